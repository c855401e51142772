"""Recompute the hash chain from the stored events and check an auditor's digest against it;
recompute the Merkle tree from the same events and check the stored tree's root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.chain import ChainBreak, ChainVerifier, Digest
from ..domain.merkle import EMPTY_ROOT, CompactRange, event_leaf_hash, root_hash
from . import tree
from .event_store import EventStore


@dataclass(frozen=True, slots=True)
class TreeCheck:
    """The stored tree's root at its size, beside the root the events give at that size."""

    size: int
    stored: bytes
    computed: bytes | None  # None: the chain broke before that size

    @property
    def ok(self) -> bool:
        return self.stored == self.computed

    def describe(self) -> str:
        if self.computed is None:
            return (
                f"merkle tree NOT checked: the stored tree holds {self.size} events, "
                "more than the chain verified"
            )
        if self.ok:
            return f"merkle tree verified: {self.size} events, root {self.stored.hex()}"
        return (
            f"merkle tree BROKEN: the stored tree of {self.size} events has root "
            f"{self.stored.hex()}, the events give {self.computed.hex()}"
        )


def stored_tree(store: EventStore) -> tuple[int, bytes]:
    """The stored tree's size and root, read in one transaction."""
    pooled = store.engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            size = tree.size(cur)
            root = root_hash(size, lambda nodes: tree.subtrees(cur, nodes))
        conn.rollback()
        return size, root
    finally:
        pooled.close()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``ledger verify`` found: how far the chain holds, and the first break if any."""

    checked: int
    head: Digest
    broken: ChainBreak | None
    digest: Digest | None = None
    digest_found: bool | None = None
    tree: TreeCheck | None = None

    @property
    def ok(self) -> bool:
        tree_ok = self.tree is None or self.tree.ok
        return self.broken is None and self.digest_found is not False and tree_ok

    def describe(self) -> str:
        lines = []
        if self.broken is None:
            lines.append(f"chain verified: {self.checked} events, head {self.head}")
        else:
            lines.append(f"{self.broken} (checked {self.checked} events)")
        if self.digest is not None:
            if self.digest_found:
                lines.append(f"digest {self.digest} is part of this ledger")
            elif self.digest_found is False:
                lines.append(f"digest {self.digest} is NOT part of this ledger")
        if self.tree is not None:
            lines.append(self.tree.describe())
        return "\n".join(lines)


def verify(
    store: EventStore,
    digest: Digest | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Stream every event in position order through the chain verifier.

    A digest ``P:H`` holds when the chain verifies up to and including ``P`` and the event at
    ``P`` carries ``H``: then, short of breaking SHA-256, events 1..P are exactly those the
    auditor saw. Position 0 with the genesis hash is the digest of the empty ledger.

    The stored Merkle tree (as far as the projector has grown it) is checked against the tree
    of the same events' hashes, rebuilt here as they stream by.
    """
    tree_size, tree_root = stored_tree(store)
    computed: CompactRange | None = CompactRange()
    tree_computed = EMPTY_ROOT if tree_size == 0 else None
    verifier = ChainVerifier()
    checked = 0
    digest_found: bool | None = None
    if digest is not None and digest.position == 0:
        digest_found = digest.hash == verifier.hash
    for event in store.iter_events():
        if verifier.feed(event) is not None:
            break
        checked += 1
        if computed is not None:
            computed.append(event_leaf_hash(event.hash))
            if checked == tree_size:
                tree_computed, computed = computed.root(), None
        if digest is not None and event.position == digest.position:
            digest_found = event.hash == digest.hash
        if on_progress is not None and checked % 10_000 == 0:
            on_progress(checked)
    if on_progress is not None:
        on_progress(checked)
    if digest is not None and digest_found is None:
        # Never reached: beyond the verified part of the chain, or beyond the head.
        digest_found = False
    return VerifyReport(
        checked=checked,
        head=Digest(verifier.position, verifier.hash),
        broken=verifier.broken,
        digest=digest,
        digest_found=digest_found,
        tree=TreeCheck(tree_size, tree_root, tree_computed),
    )
