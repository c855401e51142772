"""Errors are types, raised in the core and mapped once at the edge (CLI exit codes, GraphQL errors)."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class ValidationError(LedgerError, ValueError):
    """Input refused before anything was written; names the offending field and the reason.

    Also a ``ValueError``: a caller that only knows Python's own type still recognises it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class VersionConflict(LedgerError):
    """An append stated an expected stream version that is no longer current."""

    def __init__(self, stream: str, expected: int, current: int) -> None:
        self.stream = stream
        self.expected = expected
        self.current = current
        super().__init__(
            f"version conflict on stream {stream!r}: expected version {expected}, "
            f"but the current version is {current}"
        )


class DuplicateEvent(LedgerError):
    """An event id was reused for different content, or a retry did not repeat its whole batch."""

    def __init__(self, event_id: str, reason: str) -> None:
        self.event_id = event_id
        self.reason = reason
        super().__init__(f"event_id {event_id}: {reason}")


class NotFound(LedgerError):
    """A stream, event or position that the ledger does not hold."""


class Forbidden(LedgerError):
    """The caller's key (or its absence) does not allow this action."""


class InvalidInput(ValidationError):
    """A value the database refused (a text it cannot store, a number out of its range): the
    store's translation of the driver's error, so no edge needs to know the driver."""


class DatabaseUnavailable(LedgerError):
    """The database could not be reached or went away mid-request; asking again may work."""


class DatabaseRefused(LedgerError):
    """The database refused an operation on its own rules (a permission, a constraint, a
    migration that would lose data): asking again will not help, the message says why."""


class ProofRefused(LedgerError):
    """A proof, checkpoint or signature that does not check out; ``what`` names the part that
    failed (``rootHash``, ``treeSize``, ``signature``, ``key``, ``hashes[3]``, ``line 2``...)."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class NotYetKnown(LedgerError):
    """An answer was asked for a position the ledger does not hold yet, or whose read models
    have not reached it within the wait a read allows (``atLeastPosition``, ``atPosition``,
    or simply the log's head at ``knownAt``). Asking again later may work; the answer is never
    given from a view that lacks part of what was asked for."""

    def __init__(self, position: int, reached: int, what: str) -> None:
        self.position = position
        self.reached = reached
        self.what = what
        at = f"position {position}" if position else "the ledger"
        super().__init__(f"{at} is not {what} yet (reached {reached}); ask again shortly")


class RelayRefused(LedgerError):
    """The relay will not publish: the JetStream stream it was pointed at does not hold this
    ledger's log (its last sequence is beyond the head, its message at a sequence is not the
    event at that position, another writer got there first). Publishing on would make the
    stream diverge from the log, so nothing more is published; the message says what differs."""


class BrokerUnavailable(LedgerError):
    """The message broker (NATS) could not be reached; asking again may work."""
