"""The proofs an auditor holds, as JSON in SPEC section 5's GraphQL names, and their checks.

An inclusion proof::

    {"inclusionProof": {"leafIndex": 4, "treeSize": 8, "leafHash": "<64 hex>",
                        "hashes": ["<64 hex>", ...]}}

A consistency proof::

    {"consistencyProof": {"fromSize": 6, "toSize": 8, "hashes": ["<64 hex>", ...]}}

The one key names the GraphQL field, so the ``data`` of a GraphQL answer is a proof document
as it is (``{"data": {...}}`` is accepted too). Hashes are lowercase hex, in RFC 9162 order.
Parsing is strict: an unknown, missing or repeated key, a hash that is not 32 bytes of
lowercase hex, a number that is not a non-negative integer is refused, naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .checkpoint import Checkpoint
from .errors import ProofRefused
from .merkle import HASH_SIZE, event_leaf_hash, verify_consistency, verify_inclusion

HEX = "0123456789abcdef"


@dataclass(frozen=True)
class InclusionProof:
    """Leaf ``leaf_index`` (the event at position ``leaf_index`` + 1) is in the tree of
    ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    @property
    def position(self) -> int:
        return self.leaf_index + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "inclusionProof": {
                "leafIndex": self.leaf_index,
                "treeSize": self.tree_size,
                "leafHash": self.leaf_hash.hex(),
                "hashes": [h.hex() for h in self.hashes],
            }
        }

    def verify(self, checkpoint: Checkpoint, event_hash: str | None = None) -> None:
        """Refuse unless the proof leads to the checkpoint's root (and, given the event's
        ``hash`` the auditor holds, unless the leaf is that event)."""
        if self.tree_size != checkpoint.tree_size:
            raise ProofRefused(
                "treeSize",
                f"the proof is for a tree of {self.tree_size} leaves, "
                f"the checkpoint for one of {checkpoint.tree_size}",
            )
        if event_hash is not None and event_leaf_hash(event_hash) != self.leaf_hash:
            raise ProofRefused(
                "leafHash", f"the proof's leaf is not the event whose hash is {event_hash}"
            )
        verify_inclusion(
            self.leaf_index, self.tree_size, self.leaf_hash, self.hashes, checkpoint.root_hash
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``to_size`` leaves extends the tree of ``from_size`` leaves."""

    from_size: int
    to_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "consistencyProof": {
                "fromSize": self.from_size,
                "toSize": self.to_size,
                "hashes": [h.hex() for h in self.hashes],
            }
        }

    def verify(self, old: Checkpoint, new: Checkpoint) -> None:
        """Refuse unless the proof shows the checkpoint ``new`` extends ``old``."""
        if old.origin != new.origin:
            raise ProofRefused(
                "origin", f"the checkpoints are of two logs, {old.origin!r} and {new.origin!r}"
            )
        for name, proven, held in (
            ("fromSize", self.from_size, old.tree_size),
            ("toSize", self.to_size, new.tree_size),
        ):
            if proven != held:
                raise ProofRefused(
                    name, f"the proof is for a tree of {proven} leaves, the checkpoint of {held}"
                )
        verify_consistency(self.from_size, self.to_size, self.hashes, old.root_hash, new.root_hash)


Proof = InclusionProof | ConsistencyProof

FIELDS = {
    "inclusionProof": ("leafIndex", "treeSize", "leafHash", "hashes"),
    "consistencyProof": ("fromSize", "toSize", "hashes"),
}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ProofRefused(key, "appears twice")
        result[key] = value
    return result


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofRefused(name, f"expected a non-negative integer, got {value!r}")
    return value


def _hash(name: str, value: Any) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE or value.strip(HEX):
        raise ProofRefused(name, "expected 64 lowercase hex digits (a SHA-256 hash)")
    return bytes.fromhex(value)


def _hashes(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise ProofRefused("hashes", "expected a list of hashes")
    return tuple(_hash(f"hashes[{i}]", h) for i, h in enumerate(value))


def parse_proof(document: str | bytes) -> Proof:
    """An inclusion or consistency proof from its JSON document."""
    try:
        top = json.loads(document, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ProofRefused("proof", f"not a JSON document ({exc})") from None
    if isinstance(top, dict) and list(top) == ["data"]:
        top = top["data"]
    if not isinstance(top, dict) or len(top) != 1 or next(iter(top)) not in FIELDS:
        raise ProofRefused("proof", "expected one key, inclusionProof or consistencyProof")
    ((kind, body),) = top.items()
    if not isinstance(body, dict):
        raise ProofRefused(kind, "expected an object")
    wanted: Sequence[str] = FIELDS[kind]
    missing = [k for k in wanted if k not in body]
    unknown = [k for k in body if k not in wanted]
    if missing or unknown:
        name = (missing or unknown)[0]
        raise ProofRefused(name, "missing" if missing else f"unknown field of {kind}")
    if kind == "inclusionProof":
        return InclusionProof(
            _count("leafIndex", body["leafIndex"]),
            _count("treeSize", body["treeSize"]),
            _hash("leafHash", body["leafHash"]),
            _hashes(body["hashes"]),
        )
    return ConsistencyProof(
        _count("fromSize", body["fromSize"]),
        _count("toSize", body["toSize"]),
        _hashes(body["hashes"]),
    )
