"""The hash chain: each event's hash covers its whole content and the previous event's hash.

Because the position is part of what is hashed, an event cannot be moved, and because each hash
covers the previous one, no event can be changed, dropped or inserted without breaking every
hash after it. A digest ``POSITION:HASH`` kept by an auditor pins the whole history up to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .canonical import canonical_bytes, format_timestamp

GENESIS_HASH = "0" * 64

# The fields of an event that the hash covers, in the order they are documented.
CHAIN_FIELDS: tuple[str, ...] = (
    "position",
    "stream",
    "stream_version",
    "event_id",
    "type",
    "schema_version",
    "data",
    "source",
    "metadata",
    "effective_at",
    "recorded_at",
    "prev_hash",
)


def chain_hash(
    *,
    position: int,
    stream: str,
    stream_version: int,
    event_id: Any,
    type: str,
    schema_version: int,
    data: Any,
    source: Any,
    metadata: Any,
    effective_at: Any,
    recorded_at: Any,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON object of the event's fields."""
    record = {
        "position": position,
        "stream": stream,
        "stream_version": stream_version,
        "event_id": str(event_id),
        "type": type,
        "schema_version": schema_version,
        "data": data,
        "source": source,
        "metadata": metadata,
        "effective_at": format_timestamp(effective_at),
        "recorded_at": format_timestamp(recorded_at),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class Digest:
    """What an auditor keeps: the position and hash of the ledger's head at some moment."""

    position: int
    hash: str

    def __str__(self) -> str:
        return f"{self.position}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        from .errors import ValidationError

        position_text, sep, hash_text = text.strip().partition(":")
        if not sep or not position_text.isdigit():
            raise ValidationError("digest", f"expected POSITION:HASH, got {text!r}")
        hash_text = hash_text.lower()
        if len(hash_text) != 64 or any(c not in "0123456789abcdef" for c in hash_text):
            raise ValidationError("digest", "the hash must be 64 hexadecimal digits (SHA-256)")
        return cls(int(position_text), hash_text)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the recomputed chain disagrees with what is stored."""

    position: int
    reason: str

    def __str__(self) -> str:
        return f"chain breaks at position {self.position}: {self.reason}"


class ChainVerifier:
    """Folds events in position order and reports the first break; pure, so any reader can use it.

    Feed it stored events (anything with the chain fields as attributes) one at a time; it keeps
    only the previous position and hash, so memory stays flat however long the ledger is.
    """

    def __init__(self) -> None:
        self.position = 0
        self.hash = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, event: Any) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        expected_position = self.position + 1
        if event.position != expected_position:
            self.broken = ChainBreak(
                expected_position,
                f"event at position {expected_position} is missing "
                f"(next stored position is {event.position})",
            )
        elif event.prev_hash != self.hash:
            self.broken = ChainBreak(
                event.position,
                f"prev_hash {event.prev_hash[:16]}… does not match the hash of position "
                f"{self.position} ({self.hash[:16]}…)",
            )
        else:
            recomputed = chain_hash(**{f: getattr(event, f) for f in CHAIN_FIELDS})
            if recomputed != event.hash:
                self.broken = ChainBreak(
                    event.position,
                    f"stored hash {event.hash[:16]}… differs from the recomputed "
                    f"{recomputed[:16]}… (the event's content was changed)",
                )
        if self.broken is None:
            self.position = event.position
            self.hash = event.hash
        return self.broken
