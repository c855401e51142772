"""A witness's one decision: does the checkpoint a ledger shows now extend the one accepted
before? Pure: the caller fetches the note and the consistency proof, this checks them.

This is what defeats a split view (docs/proofs.md): a ledger that shows this witness a
history that does not extend the one it showed before is caught here, whatever it shows
others; auditors who compare their witnesses' checkpoints catch the rest.
"""

from __future__ import annotations

from .checkpoint import Checkpoint, VerifierKey, open_checkpoint
from .errors import ProofRefused
from .proofs import ConsistencyProof


def describe(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.tree_size} events, root {checkpoint.root_hash.hex()}"


class SplitView(ProofRefused):
    """The ledger showed a checkpoint that does not extend one it showed before."""

    def __init__(self, accepted: Checkpoint, shown: Checkpoint, reason: str) -> None:
        self.accepted = accepted
        self.shown = shown
        super().__init__(
            "checkpoint",
            f"split view: the checkpoint the ledger shows now ({describe(shown)}) does not "
            f"extend the one accepted before ({describe(accepted)}): {reason}",
        )


def needs_proof(accepted: Checkpoint | None, shown: Checkpoint) -> bool:
    """Whether a consistency proof from ``accepted`` to ``shown`` must be fetched."""
    return accepted is not None and 0 < accepted.tree_size < shown.tree_size


def accept(
    key: VerifierKey,
    accepted: Checkpoint | None,
    note: str,
    proof: ConsistencyProof | None,
) -> Checkpoint:
    """The checkpoint of ``note`` if ``key`` signed it and it extends ``accepted`` (by
    ``proof``, needed when :func:`needs_proof`); else :class:`ProofRefused` (a bad note) or
    :class:`SplitView` (a history that does not extend the accepted one)."""
    shown = open_checkpoint(note, key)
    if accepted is None or accepted.tree_size == 0:
        return shown
    if accepted.origin != shown.origin:
        raise SplitView(accepted, shown, f"another log ({shown.origin!r})")
    if shown.tree_size < accepted.tree_size:
        raise SplitView(accepted, shown, "the tree shrank")
    if shown.tree_size == accepted.tree_size:
        if shown.root_hash != accepted.root_hash:
            raise SplitView(accepted, shown, "two trees of one size with different roots")
        return shown
    if proof is None:
        raise ProofRefused("consistencyProof", "a larger tree needs a consistency proof")
    try:
        proof.verify(accepted, shown)
    except ProofRefused as exc:
        raise SplitView(accepted, shown, f"the consistency proof fails ({exc})") from None
    return shown
