"""Commands as values: what a caller asks the ledger to record, one frozen dataclass per event type.

A command carries the event's data as the caller gave it (amounts as ``Decimal``, ``int`` or
decimal text, dates as ``datetime.date`` or ISO text: ``ledger.domain.event_data`` normalises
them) and an ``Envelope`` with what every event has besides its data. Nothing is checked
here: ``ledger.commands.Commands.handle`` prepares the event once (``envelope.prepare_one``)
and ``ledger.domain.decisions.decide`` rules on it.

Each command names its event ``type``, the ``stream`` it belongs to (``None`` for a retraction,
which goes into the stream of the event it retracts) and its event's ``data()``, which leaves
out optional fields that were not given.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

Source = Mapping[str, Any] | str


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """What every event carries besides its data; ``expected_version`` is the stream version
    the caller decided on (``None``: the version the ledger decides on)."""

    effective_at: dt.datetime | str
    source: Source
    event_id: uuid.UUID | str | None = None
    expected_version: int | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of the commands: an event type, its data, and the envelope."""

    type: ClassVar[str]
    # Optional text fields that an empty string leaves out (a form's blank field), as None does.
    _blank_is_absent: ClassVar[tuple[str, ...]] = ()

    envelope: Envelope

    @property
    def stream(self) -> str | None:
        raise NotImplementedError

    def data(self) -> dict[str, Any]:
        """The event's data as given; optional fields left out when not given."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "envelope" or value is None:
                continue
            if f.name in self._blank_is_absent and not value:
                continue
            out[f.name] = list(value) if f.name == "legs" else value
        return out


@dataclass(frozen=True, kw_only=True)
class EntityCommand(Command):
    entity_id: str

    @property
    def stream(self) -> str:
        return f"entity/{self.entity_id}"


@dataclass(frozen=True, kw_only=True)
class DealCommand(Command):
    deal_id: str

    @property
    def stream(self) -> str:
        return f"deal/{self.deal_id}"


# -- entities ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterEntity(EntityCommand):
    type: ClassVar[str] = "EntityRegistered"
    _blank_is_absent: ClassVar[tuple[str, ...]] = ("ticker", "country")

    name: str
    kind: str
    ticker: str | None = None
    country: str | None = None


@dataclass(frozen=True, kw_only=True)
class RenameEntity(EntityCommand):
    type: ClassVar[str] = "EntityRenamed"

    name: str


@dataclass(frozen=True, kw_only=True)
class ReportValuation(EntityCommand):
    type: ClassVar[str] = "ValuationReported"

    valuation_usd: Any
    basis: str
    round_size_usd: Any = None


@dataclass(frozen=True, kw_only=True)
class ReportRevenue(EntityCommand):
    type: ClassVar[str] = "RevenueReported"

    period_start: Any
    period_end: Any
    revenue_usd: Any
    forecast: bool
    net_income_usd: Any = None
    cash_burn_usd: Any = None
    rnd_usd: Any = None
    cash_usd: Any = None


# -- deals -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AnnounceDeal(DealCommand):
    type: ClassVar[str] = "DealAnnounced"
    _blank_is_absent: ClassVar[tuple[str, ...]] = ("conditions",)

    title: str
    legs: Sequence[Mapping[str, Any]]
    conditions: str | None = None


@dataclass(frozen=True, kw_only=True)
class AmendDeal(DealCommand):
    type: ClassVar[str] = "DealAmended"

    legs: Sequence[Mapping[str, Any]]
    reason: str


@dataclass(frozen=True, kw_only=True)
class FundTranche(DealCommand):
    type: ClassVar[str] = "TrancheFunded"

    leg: str
    amount_usd: Any


@dataclass(frozen=True, kw_only=True)
class TerminateDeal(DealCommand):
    type: ClassVar[str] = "DealTerminated"

    reason: str


# -- corrections -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RetractEvent(Command):
    """Retract an event; the retraction goes into the target's stream, beside what it undoes."""

    type: ClassVar[str] = "EventRetracted"

    target_event_id: uuid.UUID | str
    reason: str

    @property
    def stream(self) -> None:
        return None  # the target's: known once the target is found

    def data(self) -> dict[str, Any]:
        target = self.target_event_id
        # Event data is JSON: an id given as a UUID is recorded as its text.
        return {
            "target_event_id": str(target) if isinstance(target, uuid.UUID) else target,
            "reason": self.reason,
        }


COMMANDS: tuple[type[Command], ...] = (
    RegisterEntity,
    RenameEntity,
    ReportValuation,
    ReportRevenue,
    AnnounceDeal,
    AmendDeal,
    FundTranche,
    TerminateDeal,
    RetractEvent,
)

__all__ = [
    "COMMANDS",
    "AmendDeal",
    "AnnounceDeal",
    "Command",
    "Envelope",
    "FundTranche",
    "RegisterEntity",
    "RenameEntity",
    "ReportRevenue",
    "ReportValuation",
    "RetractEvent",
    "TerminateDeal",
]
