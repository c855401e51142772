"""Recompute the hash chain from the stored events and check an auditor's digest against it;
recompute the Merkle tree from the same events and check the stored tree's root and the
latest signed checkpoint's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.chain import ChainBreak, ChainVerifier, Digest
from ..domain.merkle import EMPTY_ROOT, CompactRange, event_leaf_hash, root_hash
from . import checkpoints, tree
from .event_store import EventStore


@dataclass(frozen=True, slots=True)
class TreeCheck:
    """The stored tree's root at its size, beside the root the events give at that size."""

    size: int
    stored: bytes
    computed: bytes | None  # None: the chain broke before that size
    label: str = "merkle tree"
    holder: str = "the stored tree"

    @property
    def ok(self) -> bool:
        return self.stored == self.computed

    def describe(self) -> str:
        if self.computed is None:
            return (
                f"{self.label} NOT checked: {self.holder} covers {self.size} events, "
                "more than the chain verified"
            )
        if self.ok:
            return f"{self.label} verified: {self.size} events, root {self.stored.hex()}"
        return (
            f"{self.label} BROKEN: {self.holder} of {self.size} events has root "
            f"{self.stored.hex()}, the events give {self.computed.hex()}"
        )


def stored_tree(store: EventStore) -> tuple[int, bytes, checkpoints.IssuedCheckpoint | None]:
    """The stored tree's size and root, and the latest checkpoint, read in one transaction."""
    pooled = store.engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            size = tree.size(cur)
            root = root_hash(size, lambda nodes: tree.subtrees(cur, nodes))
            latest = checkpoints.read(cur)
        conn.rollback()
        return size, root, latest
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
    checkpoint: TreeCheck | None = None

    @property
    def ok(self) -> bool:
        trees_ok = all(c is None or c.ok for c in (self.tree, self.checkpoint))
        return self.broken is None and self.digest_found is not False and trees_ok

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
        for check in (self.tree, self.checkpoint):
            if check is not None:
                lines.append(check.describe())
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

    The stored Merkle tree (as far as the projector has grown it) and the latest signed
    checkpoint are checked against the tree of the same events' hashes, rebuilt here as they
    stream by.
    """
    tree_size, tree_root, latest = stored_tree(store)
    wanted = {tree_size} | ({latest.tree_size} if latest else set())
    roots: dict[int, bytes] = {0: EMPTY_ROOT}
    computed: CompactRange | None = CompactRange()
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
            if checked in wanted:
                roots[checked] = computed.root()
                if checked >= max(wanted):
                    computed = None
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
        tree=TreeCheck(tree_size, tree_root, roots.get(tree_size)),
        checkpoint=None
        if latest is None
        else TreeCheck(
            latest.tree_size,
            latest.root_hash,
            roots.get(latest.tree_size),
            label="latest checkpoint",
            holder="the checkpoint",
        ),
    )
