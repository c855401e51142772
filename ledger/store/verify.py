"""Recompute the hash chain from the stored events and check an auditor's digest against it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.chain import ChainBreak, ChainVerifier, Digest
from .event_store import EventStore


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``ledger verify`` found: how far the chain holds, and the first break if any."""

    checked: int
    head: Digest
    broken: ChainBreak | None
    digest: Digest | None = None
    digest_found: bool | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None and self.digest_found is not False

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
    """
    verifier = ChainVerifier()
    checked = 0
    digest_found: bool | None = None
    if digest is not None and digest.position == 0:
        digest_found = digest.hash == verifier.hash
    for event in store.iter_events():
        if verifier.feed(event) is not None:
            break
        checked += 1
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
    )
