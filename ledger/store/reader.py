"""Reading the events table: the head, by position, by stream, by id, and what a decision needs.

Every read runs in a connection of its own from the engine's pool (one snapshot per call) and
returns ``RecordedEvent``s in position order unless it says otherwise. The driver's errors
arrive as the core's types (``driver_errors``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, or_, select

from ..domain.chain import GENESIS_HASH, Digest
from ..domain.envelope import RecordedEvent, validate_stream
from ..domain.errors import NotFound
from .driver_errors import translated
from .schema import events


@dataclass(frozen=True, slots=True)
class Head:
    """The ledger's last event: the digest an auditor keeps, and when it was recorded."""

    position: int
    hash: str
    recorded_at: dt.datetime | None

    @property
    def digest(self) -> Digest:
        return Digest(self.position, self.hash)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one read is to fetch; an event that matches several parts is returned once.

    ``streams`` whole; the whole stream of each event in ``streams_holding``; the events
    ``event_ids`` wherever they are; and of the streams ``partly``, only the events of the
    types ``partly_types`` (what ``decisions.known_entities`` needs: registrations and
    retractions, not every report)."""

    streams: Sequence[str] = ()
    streams_holding: Sequence[uuid.UUID] = ()
    event_ids: Sequence[uuid.UUID] = ()
    partly: Sequence[str] = ()
    partly_types: Sequence[str] = ()


def row_to_event(row: Sequence[object]) -> RecordedEvent:
    return RecordedEvent(*row)  # type: ignore[arg-type]


class EventReader:
    """The reads of ``EventStore``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _all(self, query) -> list[RecordedEvent]:
        with translated(), self.engine.connect() as conn:
            return [row_to_event(r) for r in conn.execute(query)]

    def head(self) -> Head:
        """The last event's position and hash (position 0 and the genesis hash when empty)."""
        query = (
            select(events.c.position, events.c.hash, events.c.recorded_at)
            .order_by(events.c.position.desc())
            .limit(1)
        )
        with translated(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return Head(0, GENESIS_HASH, None)
        return Head(row.position, row.hash, row.recorded_at)

    def read(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with ``position > after``, in order: what a tailing reader polls for."""
        query = (
            select(events).where(events.c.position > after).order_by(events.c.position).limit(limit)
        )
        return self._all(query)

    def iter_events(
        self, after: int = 0, until: int | None = None, batch_size: int = 5000
    ) -> Iterator[RecordedEvent]:
        """Every event after ``after`` (up to ``until``), streamed in batches: memory stays flat."""
        while True:
            query = select(events).where(events.c.position > after)
            if until is not None:
                query = query.where(events.c.position <= until)
            batch = self._all(query.order_by(events.c.position).limit(batch_size))
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].position

    def read_stream(self, stream: str) -> list[RecordedEvent]:
        """One stream's events in version order."""
        stream = validate_stream(stream)
        return self._all(
            select(events).where(events.c.stream == stream).order_by(events.c.stream_version)
        )

    def read_streams(
        self,
        streams: Sequence[str] | None,
        *,
        recorded_by: dt.datetime | None = None,
        upto_position: int | None = None,
    ) -> list[RecordedEvent]:
        """The events of several streams (all when ``streams`` is None), recorded by
        ``recorded_by`` and at positions up to ``upto_position`` when given, in position
        order: one query however many streams."""
        query = select(events)
        if streams is not None:
            query = query.where(events.c.stream.in_([validate_stream(s) for s in streams]))
        if recorded_by is not None:
            query = query.where(events.c.recorded_at <= recorded_by)
        if upto_position is not None:
            query = query.where(events.c.position <= upto_position)
        return self._all(query.order_by(events.c.position))

    def read_wanted(self, wanted: Wanted) -> list[RecordedEvent]:
        """The events ``wanted`` names, in position order: one statement, one round trip.

        The parts are alternatives of one ``WHERE``; each is an index lookup (the stream key,
        the event id key), so the read costs what the rows found cost."""
        c = events.c
        parts: list[ColumnElement[bool]] = []
        if wanted.streams:
            parts.append(c.stream.in_([validate_stream(s) for s in wanted.streams]))
        if wanted.streams_holding:
            holding = select(events.c.stream).where(
                events.c.event_id.in_(list(wanted.streams_holding))
            )
            parts.append(c.stream.in_(holding.scalar_subquery()))
        if wanted.event_ids:
            parts.append(c.event_id.in_(list(wanted.event_ids)))
        if wanted.partly and wanted.partly_types:
            parts.append(
                and_(
                    c.stream.in_([validate_stream(s) for s in wanted.partly]),
                    c.type.in_(list(wanted.partly_types)),
                )
            )
        if not parts:
            return []
        return self._all(select(events).where(or_(*parts)).order_by(c.position))

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
        before: int | None = None,
        newest_first: bool = False,
    ) -> list[RecordedEvent]:
        """Events matching every given filter, by position, ``limit`` of them after position
        ``after`` (and before ``before``): the audit query (positions and times inclusive).
        ``newest_first``: the ``limit`` nearest ``before``, from the newest down."""
        query = select(events).where(events.c.position > after)
        if before is not None:
            query = query.where(events.c.position < before)
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
        order = events.c.position.desc() if newest_first else events.c.position
        return self._all(query.order_by(order).limit(limit))

    def stream_version(self, stream: str) -> int:
        stream = validate_stream(stream)
        with translated(), self.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream = %(s)s",
                {"s": stream},
            ).scalar_one()

    def get_many(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RecordedEvent]:
        """The recorded events among ``event_ids``, by id (one query; absent ids are left out)."""
        if not event_ids:
            return {}
        found = self._all(select(events).where(events.c.event_id.in_(list(event_ids))))
        return {e.event_id: e for e in found}

    def get(self, event_id: uuid.UUID | str) -> RecordedEvent:
        query = select(events).where(events.c.event_id == uuid.UUID(str(event_id)))
        with translated(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no event with event_id {event_id}")
        return row_to_event(row)
