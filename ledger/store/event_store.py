"""Append and read events in PostgreSQL, one hash-chained global order.

Ordering. Appends are serialised by a transaction-scoped advisory lock. Under the lock an
append reads the head (position, hash, recorded_at) and the stream's version, writes its
events at the next positions, and commits; the lock is released only after the commit is
visible. So positions are gapless and commit in position order: a reader that tails by
``position > checkpoint`` can never see position ``p + 1`` before ``p`` is visible, and never
misses a late commit. The hash chain needs this serialisation anyway (each hash covers the
previous one), and a trigger in the database refuses any insert that does not continue the
chain, so a writer that skips the lock fails instead of forking the history.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson
import psycopg
from sqlalchemy import Engine, select

from ..domain.canonical import format_timestamp
from ..domain.chain import GENESIS_HASH, Digest, link_hash
from ..domain.envelope import (
    DEFAULT_MAX_EVENT_BYTES,
    NewEvent,
    PreparedEvent,
    Preparing,
    RecordedEvent,
    validate_expected_version,
    validate_stream,
)
from ..domain.errors import DuplicateEvent, NotFound, VersionConflict
from .schema import EVENT_COLUMNS, events


def function_batch(prepared: Sequence[PreparedEvent]) -> str:
    """The ``p_events`` argument of events_append(): the events and their content hashes."""
    return _dumps(
        [
            {
                "event_id": str(p.event_id),
                "type": p.type,
                "schema_version": p.schema_version,
                "data": p.data,
                "source": p.source,
                "metadata": p.metadata,
                "effective_at": format_timestamp(p.effective_at),
                "content": p.content_hash(),
            }
            for p in prepared
        ]
    )


class _ConnectionLost(Exception):
    """The connection died during an append, which may or may not have committed."""


# pg_advisory_xact_lock key that serialises appends within one database ("ledger" in ASCII).
APPEND_LOCK_KEY = 0x6C6564676572

_STATE_SQL = """
SELECT clock_timestamp(),
       (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream = %(stream)s),
       h.position, h.hash, h.recorded_at
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1
) AS h ON true
"""

_SELECT_COLUMNS = ", ".join(EVENT_COLUMNS)
COPY_COLUMNS = _SELECT_COLUMNS  # the column order of copy_line
_EXISTING_SQL = f"SELECT {_SELECT_COLUMNS} FROM events WHERE event_id = ANY(%s) ORDER BY position"
_COPY_CHUNK = 100  # events hashed and sent at a time
_PROBE_SQL = "SELECT 1 FROM events WHERE event_id = %s"
# Delivered with the commit, to every session listening (the projector, subscriptions): the
# ledger has new events. Tailing readers then read by position; the payload carries nothing.
APPENDED_CHANNEL = "ledger_appended"
_NOTIFY_SQL = f"NOTIFY {APPENDED_CHANNEL}"
_COPY_SQL = f"COPY events ({_SELECT_COLUMNS}) FROM STDIN"
_APPEND_SQL = (
    "SELECT outcome, out_position, out_stream_version, out_recorded_at, out_prev_hash, out_hash "
    "FROM events_append(%s, %s, %s::jsonb)"
)
# Appends of up to this many events go through events_append(); larger ones through COPY.
_FUNCTION_MAX_EVENTS = 100


def _dumps(value: object) -> str:
    # Normalised data holds only JSON types; orjson is exact for them but for ints beyond 64 bits.
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json

        return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Head:
    """The ledger's last event: the digest an auditor keeps, and when it was recorded."""

    position: int
    hash: str
    recorded_at: dt.datetime | None

    @property
    def digest(self) -> Digest:
        return Digest(self.position, self.hash)


def _copy_json(value: object) -> str:
    # COPY's text format: JSON text never holds a raw tab, newline or carriage return (it
    # escapes them), so only the backslash needs doubling.
    return _dumps(value).replace("\\", "\\\\")


def copy_line(e: RecordedEvent) -> str:
    """One row of COPY's text format; several times faster than psycopg's per-value dumping.

    The stream, type and hashes are validated plain ASCII; timestamps are written as UTC.
    """
    return (
        f"{e.position}\t{e.stream}\t{e.stream_version}\t{e.event_id}\t{e.type}\t"
        f"{e.schema_version}\t{_copy_json(e.data)}\t{_copy_json(e.source)}\t"
        f"{_copy_json(e.metadata)}\t{format_timestamp(e.effective_at)}\t"
        f"{format_timestamp(e.recorded_at)}\t{e.prev_hash}\t{e.hash}\n"
    )


def _row_to_event(row: Sequence[object]) -> RecordedEvent:
    return RecordedEvent(*row)  # type: ignore[arg-type]


class EventStore:
    """The ledger's events in PostgreSQL: append-only, gapless, hash-chained."""

    def __init__(self, engine: Engine, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.engine = engine
        self.max_event_bytes = max_event_bytes

    # -- writing -----------------------------------------------------------------------------

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
        try:
            return self._append_on_pooled(stream, prepared, expected_version)
        except _ConnectionLost:
            # Perhaps after the commit. Appending the same events again either records them
            # or answers with what the first attempt recorded.
            try:
                return self._append_on_pooled(stream, prepared, expected_version)
            except _ConnectionLost as lost:
                raise lost.__cause__ from None  # type: ignore[misc]

    def _append_on_pooled(
        self, stream: str, prepared: Sequence[PreparedEvent], expected_version: int | None
    ) -> list[RecordedEvent]:
        pooled = self.engine.raw_connection()
        try:
            conn = pooled.driver_connection
            assert conn is not None
            try:
                return self._append(conn, stream, prepared, expected_version)
            except psycopg.OperationalError as error:
                if not conn.broken:
                    conn.rollback()
                    raise
                pooled.invalidate()
                raise _ConnectionLost from error
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise
        finally:
            pooled.close()

    def _append(
        self,
        conn: psycopg.Connection,
        stream: str,
        prepared: Sequence[PreparedEvent],
        expected_version: int | None,
    ) -> list[RecordedEvent]:
        if len(prepared) <= _FUNCTION_MAX_EVENTS:
            return self._append_in_database(conn, stream, prepared, expected_version)
        return self._append_by_copy(conn, stream, prepared, expected_version)

    def _append_in_database(
        self,
        conn: psycopg.Connection,
        stream: str,
        prepared: Sequence[PreparedEvent],
        expected_version: int | None,
    ) -> list[RecordedEvent]:
        """One statement, its own transaction: events_append() (migration 0008) locks, links,
        inserts and notifies, and the commit follows in the same round trip."""
        params = (stream, expected_version, function_batch(prepared))
        conn.autocommit = True
        try:
            rows = conn.execute(_APPEND_SQL, params).fetchall()
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name != "events_event_id_key":
                raise
            # A retry without an expected version: the unique key found a recorded id.
            return self._replayed(stream, prepared, self._existing(conn, prepared))
        finally:
            if not conn.closed:
                conn.autocommit = False
        outcome = rows[0][0]
        if outcome == "replayed":
            return self._replayed(stream, prepared, self._existing(conn, prepared))
        if outcome == "conflict":
            assert expected_version is not None
            raise VersionConflict(stream, expected_version, rows[0][2])
        return [
            p.placed(
                stream=stream,
                position=position,
                stream_version=version,
                recorded_at=recorded_at,
                prev_hash=prev_hash,
                hash=hash_,
            )
            for p, (_, position, version, recorded_at, prev_hash, hash_) in zip(
                prepared, rows, strict=True
            )
        ]

    def _append_by_copy(
        self,
        conn: psycopg.Connection,
        stream: str,
        prepared: Sequence[PreparedEvent],
        expected_version: int | None,
    ) -> list[RecordedEvent]:
        """Large batches: COPY is the fastest way in; the client validates the events and links
        the hashes under the lock, as it sends them."""
        # The lock first, then -- in statements of their own, so that their snapshots are taken
        # once the lock is held -- the retry probe and the head, in one round trip. A retry
        # repeats its whole batch, so probing its first id finds it; any other id already
        # recorded makes the COPY fail on events_event_id_key, and the full check follows.
        first_id = prepared[0].event_id
        with conn.pipeline() as pipeline:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
            probe = conn.execute(_PROBE_SQL, (first_id,))
            state = conn.execute(_STATE_SQL, {"stream": stream})
            pipeline.sync()
            retried = probe.fetchone() is not None
            now, current_version, head_position, head_hash, head_recorded_at = state.fetchone()
        if retried:
            conn.rollback()
            return self._replayed(stream, prepared, self._existing(conn, prepared))
        if expected_version is not None and expected_version != current_version:
            conn.rollback()
            raise VersionConflict(stream, expected_version, current_version)
        recorded = self._chain(
            stream,
            prepared,
            position=head_position or 0,
            prev_hash=head_hash or GENESIS_HASH,
            version=current_version,
            recorded_at=max(now, head_recorded_at) if head_recorded_at else now,
        )
        written: list[RecordedEvent] = []
        try:
            with conn.cursor() as cur, cur.copy(_COPY_SQL) as copy:
                # Validate, hash and send in chunks: the server parses and indexes one chunk
                # while the client prepares the next (two cores at work, not one after the
                # other). A bad event raises here; the transaction then writes nothing.
                while chunk := list(itertools.islice(recorded, _COPY_CHUNK)):
                    copy.write("".join(map(copy_line, chunk)))
                    written.extend(chunk)
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name != "events_event_id_key":
                raise
            conn.rollback()
            return self._replayed(stream, prepared, self._existing(conn, prepared))
        conn.execute(_NOTIFY_SQL)
        conn.commit()
        return written

    @staticmethod
    def _existing(
        conn: psycopg.Connection, prepared: Sequence[PreparedEvent]
    ) -> list[RecordedEvent]:
        rows = conn.execute(_EXISTING_SQL, ([p.event_id for p in prepared],)).fetchall()
        conn.rollback()
        return [_row_to_event(r) for r in rows]

    @staticmethod
    def _chain(
        stream: str,
        prepared: Sequence[PreparedEvent],
        *,
        position: int,
        prev_hash: str,
        version: int,
        recorded_at: dt.datetime,
    ) -> Iterator[RecordedEvent]:
        """The events, placed and linked one after another (lazily, so COPY can stream them)."""
        for p in prepared:
            content = p.content_hash()
            position += 1
            version += 1
            hash_ = link_hash(
                position=position,
                stream=stream,
                stream_version=version,
                recorded_at=recorded_at,
                prev_hash=prev_hash,
                content=content,
            )
            yield p.placed(
                stream=stream,
                position=position,
                stream_version=version,
                recorded_at=recorded_at,
                prev_hash=prev_hash,
                hash=hash_,
            )
            prev_hash = hash_

    @staticmethod
    def _replayed(
        stream: str, prepared: Sequence[PreparedEvent], existing: list[RecordedEvent]
    ) -> list[RecordedEvent]:
        """A retry: every event id must already be recorded, with the same content."""
        by_id = {e.event_id: e for e in existing}
        for p in prepared:
            original = by_id.get(p.event_id)
            if original is None:
                first = existing[0]
                raise DuplicateEvent(
                    str(first.event_id),
                    f"already recorded at position {first.position}, but event {p.event_id} "
                    "of the same batch is not: a retry must repeat its batch exactly",
                )
            if not p.same_content(original, stream):
                raise DuplicateEvent(
                    str(p.event_id),
                    f"already recorded at position {original.position} with different content; "
                    "an event id names one event forever",
                )
        return [by_id[p.event_id] for p in prepared]

    # -- reading -----------------------------------------------------------------------------

    def head(self) -> Head:
        """The last event's position and hash (position 0 and the genesis hash when empty)."""
        query = (
            select(events.c.position, events.c.hash, events.c.recorded_at)
            .order_by(events.c.position.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return Head(0, GENESIS_HASH, None)
        return Head(row.position, row.hash, row.recorded_at)

    def read(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with ``position > after``, in order: what a tailing reader polls for."""
        query = (
            select(events).where(events.c.position > after).order_by(events.c.position).limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row_to_event(r) for r in conn.execute(query)]

    def iter_events(
        self, after: int = 0, until: int | None = None, batch_size: int = 5000
    ) -> Iterator[RecordedEvent]:
        """Every event after ``after`` (up to ``until``), streamed in batches: memory stays flat."""
        while True:
            query = select(events).where(events.c.position > after)
            if until is not None:
                query = query.where(events.c.position <= until)
            query = query.order_by(events.c.position).limit(batch_size)
            with self.engine.connect() as conn:
                batch = [_row_to_event(r) for r in conn.execute(query)]
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].position

    def read_stream(self, stream: str) -> list[RecordedEvent]:
        """One stream's events in version order."""
        stream = validate_stream(stream)
        query = select(events).where(events.c.stream == stream).order_by(events.c.stream_version)
        with self.engine.connect() as conn:
            return [_row_to_event(r) for r in conn.execute(query)]

    def read_streams(
        self, streams: Sequence[str] | None, *, recorded_by: dt.datetime | None = None
    ) -> list[RecordedEvent]:
        """The events of several streams (all when ``streams`` is None), recorded by
        ``recorded_by`` when given, in position order: one query however many streams."""
        query = select(events)
        if streams is not None:
            query = query.where(events.c.stream.in_([validate_stream(s) for s in streams]))
        if recorded_by is not None:
            query = query.where(events.c.recorded_at <= recorded_by)
        with self.engine.connect() as conn:
            return [_row_to_event(r) for r in conn.execute(query.order_by(events.c.position))]

    def find(
        self,
        *,
        stream: str | None = None,
        types: Sequence[str] | None = None,
        from_position: int | None = None,
        to_position: int | None = None,
        recorded_from: dt.datetime | None = None,
        recorded_to: dt.datetime | None = None,
        actor: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[RecordedEvent]:
        """Events matching every given filter, by position, ``limit`` of them after position
        ``after``: the audit query (positions and times inclusive)."""
        query = select(events).where(events.c.position > after)
        if stream is not None:
            query = query.where(events.c.stream == validate_stream(stream))
        if types:
            query = query.where(events.c.type.in_(list(types)))
        if from_position is not None:
            query = query.where(events.c.position >= from_position)
        if to_position is not None:
            query = query.where(events.c.position <= to_position)
        if recorded_from is not None:
            query = query.where(events.c.recorded_at >= recorded_from)
        if recorded_to is not None:
            query = query.where(events.c.recorded_at <= recorded_to)
        if actor is not None:  # who recorded it (metadata.actor, set by the API from the key)
            query = query.where(events.c.metadata["actor"].astext == actor)
        query = query.order_by(events.c.position).limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_event(r) for r in conn.execute(query)]

    def stream_version(self, stream: str) -> int:
        stream = validate_stream(stream)
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream = %(s)s",
                {"s": stream},
            ).scalar_one()

    def get_many(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RecordedEvent]:
        """The recorded events among ``event_ids``, by id (one query; absent ids are left out)."""
        if not event_ids:
            return {}
        query = select(events).where(events.c.event_id.in_(list(event_ids)))
        with self.engine.connect() as conn:
            return {r.event_id: _row_to_event(r) for r in conn.execute(query)}

    def get(self, event_id: uuid.UUID | str) -> RecordedEvent:
        query = select(events).where(events.c.event_id == uuid.UUID(str(event_id)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no event with event_id {event_id}")
        return _row_to_event(row)
