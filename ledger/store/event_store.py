"""Append and read events in PostgreSQL, one hash-chained global order.

Ordering. Appends are serialised by a transaction-scoped advisory lock. Under the lock an
append reads the head (position, hash, recorded_at) and the stream's version, writes its
events at the next positions, and commits; the lock is released only after the commit is
visible. So positions are gapless and commit in position order: a reader that tails by
``position > checkpoint`` can never see position ``p + 1`` before ``p`` is visible, and never
misses a late commit. The hash chain needs this serialisation anyway (each hash covers the
previous one), and a trigger in the database refuses any insert that does not continue the
chain, so a writer that skips the lock fails instead of forking the history.

``EventStore`` is the one object callers hold: its writes are in ``appender`` (the function
path and the COPY path), its reads in ``reader``; both translate the driver's errors into the
core's types (``driver_errors``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from ..domain.envelope import (
    DEFAULT_MAX_EVENT_BYTES,
    NewEvent,
    PreparedEvent,
    Preparing,
    RecordedEvent,
    check_batch,
    validate_expected_version,
    validate_stream,
)
from . import appender
from .appender import (
    _COPY_SQL,
    _FUNCTION_MAX_EVENTS,
    APPEND_LOCK_KEY,
    APPENDED_CHANNEL,
    COPY_COLUMNS,
    copy_line,
    function_batch,
)
from .reader import EventReader, Head, Wanted


class EventStore(EventReader):
    """The ledger's events in PostgreSQL: append-only, gapless, hash-chained."""

    def __init__(self, engine: Engine, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        super().__init__(engine)
        self.max_event_bytes = max_event_bytes

    def append(
        self,
        stream: str,
        events: Sequence[NewEvent] | NewEvent,
        expected_version: int | None = None,
    ) -> list[RecordedEvent]:
        """Record ``events`` at the end of ``stream``, all or nothing.

        ``expected_version`` is the stream version the caller decided on (0 for a new stream);
        if another append got there first, ``VersionConflict`` names the current version.
        A retry that repeats the same event ids returns the originally recorded events and
        writes nothing.
        """
        stream = validate_stream(stream)
        expected_version = validate_expected_version(expected_version)
        batch = Preparing(events, self.max_event_bytes, stream)
        # A small batch is validated whole before any round trip; a large one as it is sent.
        prepared = list(batch) if len(batch) <= _FUNCTION_MAX_EVENTS else batch
        return appender.append(self.engine, stream, prepared, expected_version)

    def append_prepared(
        self,
        stream: str,
        prepared: Sequence[PreparedEvent],
        expected_version: int | None = None,
    ) -> list[RecordedEvent]:
        """``append`` for events the caller has prepared already (``envelope.prepare_one``,
        ``prepare``) and validated for ``stream``: they are not validated again."""
        stream = validate_stream(stream)
        expected_version = validate_expected_version(expected_version)
        check_batch(prepared, stream)
        return appender.append(self.engine, stream, prepared, expected_version)


__all__ = [
    "APPENDED_CHANNEL",
    "APPEND_LOCK_KEY",
    "COPY_COLUMNS",
    "_COPY_SQL",
    "_FUNCTION_MAX_EVENTS",
    "EventStore",
    "Head",
    "Wanted",
    "copy_line",
    "function_batch",
]
