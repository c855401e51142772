"""Appending to the events table: the function path for small batches, COPY for large ones.

``append`` takes events already prepared (validated and normalised, ``envelope.prepare``):
``EventStore.append`` prepares what a caller hands in, ``EventStore.append_prepared`` takes
what a writer prepared itself, so no event is validated twice. The ordering argument (one
append at a time, under a lock, gapless positions) is ``event_store``'s docstring; what a
retry is, and when an append is retried on a new connection, is below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator, Sequence

import orjson
import psycopg
from sqlalchemy import Engine

from ..domain.canonical import format_timestamp
from ..domain.chain import CONTENT_FORMAT, GENESIS_HASH, LINK_FORMAT
from ..domain.envelope import PreparedEvent, RecordedEvent, recorded_event
from ..domain.errors import DuplicateEvent, VersionConflict
from .driver_errors import translated
from .reader import row_to_event
from .schema import EVENT_COLUMNS


def function_batch(prepared: Sequence[PreparedEvent]) -> str:
    """The ``p_events`` argument of events_append(): the events and their content hashes."""
    return _dumps(
        [
            {
                "event_id": str(p.event_id),
                "type": p.type,
                "schema_version": p.schema_version,
                # As prepare_one encoded them (the bytes the content hash covers).
                "data": orjson.Fragment(p.encoded[0]) if p.encoded else p.data,
                "source": orjson.Fragment(p.encoded[1]) if p.encoded else p.source,
                "metadata": orjson.Fragment(p.encoded[2]) if p.encoded else p.metadata,
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


def append(
    engine: Engine,
    stream: str,
    prepared: Sequence[PreparedEvent],
    expected_version: int | None,
) -> list[RecordedEvent]:
    """Record ``prepared`` (a checked stream, a checked version) at the end of ``stream``.

    ``prepared`` may be lazy (``envelope.Preparing``): a large batch is then validated as it is
    sent, inside the transaction, and a bad event aborts it. A connection that dies during
    the append is replaced once: the append may have committed, and appending the same events
    again either records them or answers with what the first attempt recorded."""
    with translated():
        try:
            return _append_on_pooled(engine, stream, prepared, expected_version)
        except _ConnectionLost:
            try:
                return _append_on_pooled(engine, stream, prepared, expected_version)
            except _ConnectionLost as lost:
                raise lost.__cause__ from None  # type: ignore[misc]


def _append_on_pooled(
    engine: Engine, stream: str, prepared: Sequence[PreparedEvent], expected_version: int | None
) -> list[RecordedEvent]:
    pooled = engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        try:
            return _append(conn, stream, prepared, expected_version)
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
    conn: psycopg.Connection,
    stream: str,
    prepared: Sequence[PreparedEvent],
    expected_version: int | None,
) -> list[RecordedEvent]:
    if len(prepared) <= _FUNCTION_MAX_EVENTS:
        return _append_in_database(conn, stream, prepared, expected_version)
    return _append_by_copy(conn, stream, prepared, expected_version)


def _append_in_database(
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
        return _replayed(stream, prepared, _existing(conn, prepared))
    finally:
        if not conn.closed:
            conn.autocommit = False
    outcome = rows[0][0]
    if outcome == "replayed":
        return _replayed(stream, prepared, _existing(conn, prepared))
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
        row = state.fetchone()
        assert row is not None  # _STATE_SQL aggregates: always one row
        now, current_version, head_position, head_hash, head_recorded_at = row
    if retried:
        conn.rollback()
        return _replayed(stream, prepared, _existing(conn, prepared))
    if expected_version is not None and expected_version != current_version:
        conn.rollback()
        raise VersionConflict(stream, expected_version, current_version)
    recorded = _chain(
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
                events, lines = zip(*chunk, strict=True)
                copy.write("".join(lines))
                written.extend(events)
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name != "events_event_id_key":
            raise
        conn.rollback()
        return _replayed(stream, prepared, _existing(conn, prepared))
    conn.execute(_NOTIFY_SQL)
    conn.commit()
    return written


def _existing(conn: psycopg.Connection, prepared: Sequence[PreparedEvent]) -> list[RecordedEvent]:
    rows = conn.execute(_EXISTING_SQL, ([p.event_id for p in prepared],)).fetchall()
    conn.rollback()
    return [row_to_event(r) for r in rows]


def _chain(
    stream: str,
    prepared: Sequence[PreparedEvent],
    *,
    position: int,
    prev_hash: str,
    version: int,
    recorded_at: dt.datetime,
) -> Iterator[tuple[RecordedEvent, str]]:
    """The events, placed and linked one after another, each with its row of COPY's text
    format (lazily, so COPY can stream them).

    A row is written from the bytes ``prepare_one`` encoded once (a JSON text never holds a
    raw tab, newline or carriage return, so only the backslash needs doubling); the stream,
    type, id, hashes and times are validated plain ASCII, the times in UTC."""
    recorded_text = format_timestamp(recorded_at)
    sha256 = hashlib.sha256
    for p in prepared:
        position += 1
        version += 1
        encoded = p.encoded
        if encoded is None:  # built by hand: the definitions themselves
            content = p.content_hash()
        else:  # chain.content_hash_encoded, inline (a test holds the two together)
            event_id = str(p.event_id)
            effective_text = format_timestamp(p.effective_at)
            data, source, metadata = encoded
            content = sha256(
                CONTENT_FORMAT
                % (
                    data,
                    effective_text.encode(),
                    event_id.encode(),
                    metadata,
                    p.schema_version,
                    source,
                    p.type.encode(),
                )
            ).hexdigest()
        # chain.link_hash_ascii, inline
        hash_ = sha256(
            LINK_FORMAT.format(
                content, position, prev_hash, recorded_text, stream, version
            ).encode()
        ).hexdigest()
        event = recorded_event(  # p.placed(...), positionally
            position,
            stream,
            version,
            p.event_id,
            p.type,
            p.schema_version,
            p.data,
            p.source,
            p.metadata,
            p.effective_at,
            recorded_at,
            prev_hash,
            hash_,
        )
        if encoded is None:
            yield event, copy_line(event)
        else:
            data_text, source_text, metadata_text = (
                data.decode(),
                source.decode(),
                metadata.decode(),
            )
            if "\\" in data_text or "\\" in source_text or "\\" in metadata_text:
                data_text, source_text, metadata_text = (
                    data_text.replace("\\", "\\\\"),
                    source_text.replace("\\", "\\\\"),
                    metadata_text.replace("\\", "\\\\"),
                )
            yield (
                event,
                (
                    f"{position}\t{stream}\t{version}\t{event_id}\t{p.type}\t"
                    f"{p.schema_version}\t{data_text}\t{source_text}\t{metadata_text}\t"
                    f"{effective_text}\t{recorded_text}\t{prev_hash}\t{hash_}\n"
                ),
            )
        prev_hash = hash_


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
