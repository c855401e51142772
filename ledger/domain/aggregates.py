"""Entities and deals as aggregates: fold a stream's history, decide whether a command may follow.

An aggregate answers "may this event be appended now?" from the stream's own events as the
ledger knows them now (every recorded event, retracted ones left out), folded in
``(effective_at, position)`` order as the spec's read rule folds them. Facts that live in other
streams -- which entities exist, which event a retraction names -- are passed in by
``ledger.domain.decisions.decide``, which the writers call, so these functions stay pure and
each rule is tested without a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from .errors import ValidationError


class Event(Protocol):
    """What a fold needs of an event: recorded or about to be."""

    type: str
    data: dict[str, Any]
    effective_at: dt.datetime


def live_events(events: Iterable[Any]) -> list[Any]:
    """Drop retracted events and the retractions themselves (spec section 2, step 2)."""
    events = list(events)
    retracted = {str(e.data["target_event_id"]) for e in events if e.type == "EventRetracted"}
    return [
        e
        for e in events
        if e.type != "EventRetracted" and str(getattr(e, "event_id", "")) not in retracted
    ]


def fold_order(events: Iterable[Any]) -> list[Any]:
    """Events in the order the spec folds them: by ``effective_at``, then by ``position``."""
    return sorted(events, key=lambda e: (e.effective_at, getattr(e, "position", 0)))


@dataclass
class EntityState:
    entity_id: str | None = None
    name: str | None = None
    kind: str | None = None
    names: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.entity_id is not None

    def apply(self, event: Event) -> None:
        data = event.data
        if event.type == "EntityRegistered":
            self.entity_id, self.name, self.kind = data["entity_id"], data["name"], data["kind"]
            self.names.append(data["name"])
        elif event.type == "EntityRenamed":
            self.name = data["name"]
            self.names.append(data["name"])


@dataclass
class DealState:
    deal_id: str | None = None
    title: str | None = None
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)
    funded: dict[str, Decimal] = field(default_factory=dict)
    terminated: bool = False

    @property
    def exists(self) -> bool:
        return self.deal_id is not None

    def apply(self, event: Event) -> None:
        data = event.data
        if event.type == "DealAnnounced":
            self.deal_id, self.title = data["deal_id"], data["title"]
            self.legs = {leg["leg"]: leg for leg in data["legs"]}
        elif event.type == "DealAmended":
            self.legs = {leg["leg"]: leg for leg in data["legs"]}
        elif event.type == "TrancheFunded":
            leg = data["leg"]
            self.funded[leg] = self.funded.get(leg, Decimal(0)) + Decimal(data["amount_usd"])
        elif event.type == "DealTerminated":
            self.terminated = True

    def left_on(self, leg_id: str) -> Decimal | None:
        """What may still be funded on a leg: its firm part, else its headline, less tranches."""
        leg = self.legs[leg_id]
        amount = leg.get("committed_usd", leg.get("headline_usd"))
        if amount is None:
            return None
        return Decimal(amount) - self.funded.get(leg_id, Decimal(0))


def entity_state(events: Iterable[Event]) -> EntityState:
    state = EntityState()
    for event in fold_order(live_events(events)):
        state.apply(event)
    return state


def deal_state(events: Iterable[Event]) -> DealState:
    state = DealState()
    for event in fold_order(live_events(events)):
        state.apply(event)
    return state


# -- decisions: raise ValidationError naming the field, or return nothing ---------------------


def decide_entity(state: EntityState, type: str, data: Mapping[str, Any]) -> None:
    if type == "EntityRegistered" and state.exists:
        raise ValidationError("data.entity_id", f"entity {data['entity_id']!r} already exists")
    if type != "EntityRegistered" and not state.exists:
        raise ValidationError("data.entity_id", f"unknown entity {data['entity_id']!r}")


def decide_deal(
    state: DealState, type: str, data: Mapping[str, Any], known_entities: Set[str]
) -> None:
    deal_id = data["deal_id"]
    if type == "DealAnnounced":
        if state.exists:
            raise ValidationError("data.deal_id", f"deal {deal_id!r} already exists")
    elif not state.exists:
        raise ValidationError("data.deal_id", f"unknown deal {deal_id!r}")
    elif state.terminated:
        raise ValidationError("data.deal_id", f"deal {deal_id!r} is terminated")
    if type in ("DealAnnounced", "DealAmended"):
        for i, leg in enumerate(data["legs"]):
            for role in ("payer", "payee"):
                if leg[role] not in known_entities:
                    raise ValidationError(f"data.legs[{i}].{role}", f"unknown entity {leg[role]!r}")
        if type == "DealAmended":
            kept = {leg["leg"] for leg in data["legs"]}
            for leg_id, funded in state.funded.items():
                if funded and leg_id not in kept:
                    raise ValidationError(
                        "data.legs", f"leg {leg_id!r} has funded tranches and cannot be dropped"
                    )
    if type == "TrancheFunded":
        leg_id = data["leg"]
        if leg_id not in state.legs:
            raise ValidationError(
                "data.leg", f"deal {deal_id!r} has no leg {leg_id!r}; legs: {', '.join(state.legs)}"
            )
        left = state.left_on(leg_id)
        if left is None:
            raise ValidationError("data.leg", f"leg {leg_id!r} has no USD amount to fund")
        if Decimal(data["amount_usd"]) > left:
            raise ValidationError(
                "data.amount_usd", f"exceeds what is left of leg {leg_id!r}: {left} USD"
            )


@dataclass(frozen=True)
class RetractionTarget:
    """What the writer found for a retraction's ``target_event_id``."""

    type: str
    retracted: bool


def decide_retraction(target: RetractionTarget | None, data: Mapping[str, Any]) -> None:
    if target is None:
        raise ValidationError("data.target_event_id", f"unknown event {data['target_event_id']}")
    if target.type == "EventRetracted":
        raise ValidationError("data.target_event_id", "a retraction cannot be retracted")
    if target.retracted:
        raise ValidationError("data.target_event_id", "that event is already retracted")
