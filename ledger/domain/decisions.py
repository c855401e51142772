"""The one decision of the write side: may this prepared event follow this history, given these facts?

Both writers call ``decide``: the command service (``ledger.commands``) for one command, the
importer (``ledger.transfer.importer``) for each line of a stream. What an event says about
itself has been checked when it was prepared (``envelope.prepare_one``); ``decide`` rules on
what depends on the ledger:

- the history of the event's own stream, folded by its aggregate
  (``ledger.domain.aggregates``): an entity registered once, a deal not terminated, a
  tranche within what is left of its leg;
- facts from other streams, fetched beforehand in one read (``Facts``): which entities the
  legs of a deal name exist, and which event a retraction names, and where it is.

It raises ``ValidationError`` naming the field, or returns nothing. No I/O: every rule is
tested without a database (``tests/unit/test_decisions.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .aggregates import (
    RetractionTarget,
    deal_state,
    decide_deal,
    decide_entity,
    decide_retraction,
    entity_state,
)
from .errors import ValidationError
from .event_types import DEAL_EVENT_TYPES, ENTITY_EVENT_TYPES

# The event types that decide whether an entity exists: its registration, and a retraction
# (of the registration) in its stream. Renames and reports change nothing about existence.
EXISTENCE_TYPES: tuple[str, ...] = ("EntityRegistered", "EventRetracted")


class Proposed(Protocol):
    """What ``decide`` needs of the event to be appended (an ``envelope.PreparedEvent``)."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Located:
    """An event a retraction names: its type, and the stream it is in."""

    type: str
    stream: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What a decision needs from outside the event's history.

    ``stream`` is where the event is to be appended (``None`` only for a retraction whose
    target is nowhere: it has no stream to go to); ``known_entities`` those of the entities
    the event names that exist; ``retraction_target`` the event a retraction names, if the
    ledger holds it (``None``: an unknown event)."""

    stream: str | None
    known_entities: frozenset[str] = field(default_factory=frozenset)
    retraction_target: Located | None = None


def decide(history: Sequence[Any], prepared: Proposed, facts: Facts) -> None:
    """Refuse (``ValidationError``) an event that may not follow ``history``, the events of
    ``facts.stream`` (recorded, or about to be: the folds leave retracted events out)."""
    type, data = prepared.type, prepared.data
    if type == "EventRetracted":
        _decide_retraction(history, data, facts)
    elif type in ENTITY_EVENT_TYPES:
        decide_entity(entity_state(history), type, data)
    elif type in DEAL_EVENT_TYPES:
        decide_deal(deal_state(history), type, data, facts.known_entities)
    else:  # pragma: no cover - prepare_one refuses unknown types
        raise ValidationError("type", f"unknown event type {type!r}")


def _decide_retraction(history: Sequence[Any], data: Mapping[str, Any], facts: Facts) -> None:
    target_id = str(data["target_event_id"])
    target = facts.retraction_target
    if target is None:
        decide_retraction(None, data)
        return
    if target.stream != facts.stream:
        raise ValidationError(
            "data.target_event_id",
            f"event {target_id} is in {target.stream}; its retraction belongs there, "
            f"not in {facts.stream}",
        )
    retracted = any(
        e.type == "EventRetracted" and str(e.data["target_event_id"]) == target_id for e in history
    )
    decide_retraction(RetractionTarget(target.type, retracted), data)


def parties(data: Mapping[str, Any]) -> frozenset[str]:
    """The entities the legs of a deal event name (none for any other event)."""
    return frozenset(leg[role] for leg in data.get("legs", ()) for role in ("payer", "payee"))


def entity_stream(entity_id: str) -> str:
    return f"entity/{entity_id}"


def known_entities(events: Iterable[Any], among: Iterable[str]) -> frozenset[str]:
    """Which of the entities ``among`` exist, folding their streams' events in ``events``
    (recorded events of any streams; ``EXISTENCE_TYPES`` of each stream suffice)."""
    by_stream: dict[str, list[Any]] = defaultdict(list)
    for event in events:
        by_stream[event.stream].append(event)
    return frozenset(e for e in among if entity_state(by_stream.get(entity_stream(e), ())).exists)


__all__ = [
    "EXISTENCE_TYPES",
    "Facts",
    "Located",
    "decide",
    "entity_stream",
    "known_entities",
    "parties",
]
