"""Checkpoints and proofs of the Merkle tree (SPEC section 5, docs/proofs.md).

Proofs can be asked at any tree size up to the latest checkpoint's, not only at sizes a
checkpoint was issued at; the default size is the latest checkpoint's. Each answer is
computed from O(log n) complete subtrees fetched in one query (``ledger.store.tree``); the
tree's nodes never change once written, so no snapshot is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine

from ..domain.errors import ValidationError
from ..domain.merkle import Node, consistency_proof, inclusion_proof
from ..domain.proofs import ConsistencyProof, InclusionProof
from ..store import checkpoints, tree
from ..store.checkpoints import IssuedCheckpoint

T = TypeVar("T")


@contextmanager
def _cursor(engine: Engine) -> Iterator[Any]:
    pooled = engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            yield cur
        conn.rollback()
    finally:
        pooled.close()


def _count(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"expected an integer, got {value!r}")
    if value < minimum:
        raise ValidationError(field, f"must be at least {minimum}, got {value}")
    return value


def _provable(cur: Any, field: str, size: int | None) -> int:
    """The tree size a proof is asked at: ``size``, at most the latest checkpoint's, which is
    also the default."""
    latest = checkpoints.latest_size(cur)
    if latest is None:
        raise ValidationError(field, "no checkpoint has been issued yet")
    if size is None:
        return latest
    _count(field, size, 0)
    if size > latest:
        raise ValidationError(field, f"{size} is beyond the latest checkpoint's tree size {latest}")
    return size


def checkpoint(engine: Engine, tree_size: int | None = None) -> IssuedCheckpoint | None:
    """The checkpoint issued at ``tree_size`` (None if none was), or the latest."""
    if tree_size is not None:
        _count("treeSize", tree_size, 0)
    with _cursor(engine) as cur:
        return checkpoints.read(cur, tree_size)


def _subtrees(cur: Any) -> Callable[[Any], dict[Node, bytes]]:
    return lambda nodes: tree.subtrees(cur, nodes)


def inclusion(engine: Engine, position: int, tree_size: int | None = None) -> InclusionProof:
    """The proof that the event at ``position`` is in the tree of ``tree_size`` events."""
    _count("position", position, 1)
    with _cursor(engine) as cur:
        size = _provable(cur, "treeSize", tree_size)
        if position > size:
            raise ValidationError(
                "position", f"position {position} is not in the tree of {size} events"
            )
        leaf = Node(0, position - 1)
        hashes = inclusion_proof(position - 1, size, _subtrees(cur))
        leaf_hash = tree.subtrees(cur, [leaf])[leaf]
    return InclusionProof(position - 1, size, leaf_hash, tuple(hashes))


def consistency(engine: Engine, from_size: int, to_size: int | None = None) -> ConsistencyProof:
    """The proof that the tree of ``to_size`` events extends the tree of ``from_size``;
    ``from_size`` = ``to_size`` is the empty proof, ``from_size`` 0 is refused."""
    _count("fromSize", from_size, 1)
    with _cursor(engine) as cur:
        size = _provable(cur, "toSize", to_size)
        if from_size > size:
            raise ValidationError(
                "fromSize", f"{from_size} is larger than toSize {size}: a tree only grows"
            )
        hashes = consistency_proof(from_size, size, _subtrees(cur))
    return ConsistencyProof(from_size, size, tuple(hashes))
