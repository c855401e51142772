"""The command service: prepare the event once, read every fact once, decide, append.

``Commands.handle(command)`` takes a command of ``ledger.domain.commands`` and records its
event, in four steps:

1. **prepare** the event (``envelope.prepare_one``): its data, source, metadata, time and id,
   validated and normalised -- the only validation it gets (the store is handed the prepared
   event, ``EventStore.append_prepared``);
2. **read** what the decision needs in one statement (``EventStore.read_wanted``): the
   event's stream, the registrations of the entities a deal's legs name, the stream of the
   event a retraction names, and the event itself if the caller gave its id (a retry);
3. **decide** (``ledger.domain.decisions.decide``, pure; the importer calls it too);
4. **append** at the version the decision was made on: a concurrent command that got there
   first makes this one fail with ``VersionConflict`` -- nothing is written, and calling the
   command again decides afresh. A command repeated with the same ``event_id`` returns the
   event first recorded, without deciding again.

The keyword methods (``register_entity(entity_id=..., effective_at=..., source=...)``) build
the command and call ``handle``; they hold no rule of their own.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from .domain.commands import (
    AmendDeal,
    AnnounceDeal,
    Command,
    Envelope,
    FundTranche,
    RegisterEntity,
    RenameEntity,
    ReportRevenue,
    ReportValuation,
    RetractEvent,
    TerminateDeal,
)
from .domain.decisions import (
    EXISTENCE_TYPES,
    Facts,
    Located,
    decide,
    entity_stream,
    known_entities,
    parties,
)
from .domain.envelope import NewEvent, PreparedEvent, RecordedEvent, prepare_one
from .domain.event_data import stream_of
from .store import EventStore
from .store.reader import Wanted

C = TypeVar("C", bound=Command)


class Commands:
    """The ledger's write side, over one event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def handle(self, command: Command) -> RecordedEvent:
        """Record ``command``'s event, or refuse it (``ValidationError`` naming the field,
        ``VersionConflict``, ``DuplicateEvent``) with nothing written."""
        envelope = command.envelope
        prepared = prepare_one(
            NewEvent(
                type=command.type,
                data=command.data(),
                effective_at=envelope.effective_at,
                source=envelope.source,
                event_id=envelope.event_id,
                metadata=envelope.metadata or {},
            ),
            "",
            self.store.max_event_bytes,
        )
        stream = stream_of(prepared.type, prepared.data)
        target_id = _retraction_target_id(prepared)
        retry = envelope.event_id is not None
        named = parties(prepared.data)
        found = self.store.read_wanted(
            Wanted(
                streams=[stream] if stream else [],
                streams_holding=[target_id] if target_id else [],
                event_ids=[prepared.event_id] if retry else [],
                partly=sorted(entity_stream(e) for e in named),
                partly_types=EXISTENCE_TYPES,
            )
        )
        target = next((e for e in found if e.event_id == target_id), None)
        if target is not None:
            stream = target.stream  # a retraction goes beside the event it undoes
        if retry and stream and any(e.event_id == prepared.event_id for e in found):
            # A repeated command: the store returns the original, or refuses other content.
            return self.store.append_prepared(stream, [prepared])[0]
        history = [e for e in found if e.stream == stream]
        facts = Facts(
            stream=stream,
            known_entities=known_entities(found, named),
            retraction_target=Located(target.type, target.stream) if target else None,
        )
        decide(history, prepared, facts)  # the folds leave retracted events out themselves
        assert stream is not None  # decide refuses a retraction of an event nowhere recorded
        expected = envelope.expected_version
        version = len(history) if expected is None else expected
        return self.store.append_prepared(stream, [prepared], version)[0]

    def entity_exists(self, entity_id: str) -> bool:
        stream = entity_stream(entity_id)
        found = self.store.read_wanted(Wanted(partly=[stream], partly_types=EXISTENCE_TYPES))
        return entity_id in known_entities(found, [entity_id])

    # -- the same, by keywords: the command of those fields, handled ---------------------------

    def register_entity(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(RegisterEntity, arguments))

    def rename_entity(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(RenameEntity, arguments))

    def report_valuation(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(ReportValuation, arguments))

    def report_revenue(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(ReportRevenue, arguments))

    def announce_deal(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(AnnounceDeal, arguments))

    def amend_deal(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(AmendDeal, arguments))

    def fund_tranche(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(FundTranche, arguments))

    def terminate_deal(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(TerminateDeal, arguments))

    def retract_event(self, **arguments: Any) -> RecordedEvent:
        return self.handle(by_keywords(RetractEvent, arguments))


ENVELOPE_KEYWORDS = ("effective_at", "source", "event_id", "expected_version", "metadata")


def by_keywords(command_type: type[C], arguments: dict[str, Any]) -> C:
    """The command of ``command_type`` from keyword arguments: its own fields, and the
    envelope's (``effective_at``, ``source``, ``event_id``, ``expected_version``, ``metadata``)."""
    fields = dict(arguments)
    envelope = Envelope(**{k: fields.pop(k) for k in ENVELOPE_KEYWORDS if k in fields})
    return command_type(**fields, envelope=envelope)


def _retraction_target_id(prepared: PreparedEvent) -> uuid.UUID | None:
    if prepared.type != "EventRetracted":
        return None
    return uuid.UUID(str(prepared.data["target_event_id"]))


__all__ = ["Commands", "by_keywords"]
