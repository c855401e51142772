"""The writes (spec section 4): one mutation per event type, each answering a typed result.

A mutation builds the command's arguments from its own, asks the ledger's command service to
record it, and answers ``Recorded`` or the refusal as a type of ``results``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from ledger.domain.errors import LedgerError, ValidationError
from ledger.domain.money import format_usd

from ..observability import EVENTS_APPENDED
from .permissions import WRITE_REFUSED, may_write
from .results import ForbiddenProblem, Recorded, RecordResult, result_of
from .types import Event, Info


@strawberry.input
class SourceInput:
    url: str | None = None
    title: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            k: v for k, v in (("url", self.url), ("title", self.title), ("note", self.note)) if v
        }


@strawberry.input
class LegInput:
    leg: str
    payer: str
    payee: str
    instrument: str
    headline_usd: Decimal | None = None
    committed_usd: Decimal | None = None
    capacity_gw: Decimal | None = None
    shares: Decimal | None = None
    term_start: dt.date | None = None
    term_end: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "leg": self.leg,
            "payer": self.payer,
            "payee": self.payee,
            "instrument": self.instrument,
        }
        for key in ("headline_usd", "committed_usd", "capacity_gw", "shares"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _amount(value)
        for key in ("term_start", "term_end"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value.isoformat()
        return out


def _amount(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format_usd(value) if value.is_finite() else str(value)


async def _record(info: Info, command: str, **arguments: Any) -> RecordResult:
    """Run a command; the domain's refusals become typed results, nothing partial is written.

    Who may write is asked first, so a caller without a writer's key learns that, whatever
    else is wrong with the request."""
    context = info.context
    if not may_write(context):
        return ForbiddenProblem(message=WRITE_REFUSED)
    options = {
        k: arguments.pop(k)
        for k in ("event_id", "expected_version", "metadata")
        if arguments.get(k) is not None
    }
    if "event_id" in options:
        try:
            options["event_id"] = uuid.UUID(str(options["event_id"]))
        except ValueError:
            return result_of(ValidationError("eventId", "must be a UUID"))
    source = arguments.pop("source")
    # Who recorded it, from the key, not from the client: the audit trail cannot be forged.
    trail = {"actor": context.actor or "anonymous", "actor_role": context.role or "none"}
    if context.request_id:
        trail["request_id"] = context.request_id
    given = options.get("metadata", arguments.pop("metadata", None))
    given = {} if given is None else given
    if not isinstance(given, dict):
        return result_of(ValidationError("metadata", "must be an object"))
    options["metadata"] = {**given, **trail}
    try:
        # Straight to a thread, not through ``run``: a refusal here is a typed result.
        recorded = await asyncio.to_thread(
            getattr(context.commands, command),
            source=source.as_dict(),
            **arguments,
            **options,
        )
    except LedgerError as exc:
        return result_of(exc)
    EVENTS_APPENDED.labels(recorded.type).inc()
    return Recorded(event=Event.of(recorded))


EffectiveAt = Annotated[
    dt.datetime, strawberry.argument(description="When the fact became true in the world.")
]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def register_entity(
        self,
        info: Info,
        entity_id: str,
        name: str,
        kind: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        ticker: str | None = None,
        country: str | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "register_entity", **_arguments(locals()))

    @strawberry.mutation
    async def rename_entity(
        self,
        info: Info,
        entity_id: str,
        name: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "rename_entity", **_arguments(locals()))

    @strawberry.mutation
    async def report_valuation(
        self,
        info: Info,
        entity_id: str,
        valuation_usd: Decimal,
        basis: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        round_size_usd: Decimal | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "report_valuation", **_arguments(locals()))

    @strawberry.mutation
    async def report_revenue(
        self,
        info: Info,
        entity_id: str,
        period_start: dt.date,
        period_end: dt.date,
        revenue_usd: Decimal,
        effective_at: EffectiveAt,
        source: SourceInput,
        forecast: bool = False,
        net_income_usd: Decimal | None = None,
        cash_burn_usd: Decimal | None = None,
        rnd_usd: Decimal | None = None,
        cash_usd: Decimal | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "report_revenue", **_arguments(locals()))

    @strawberry.mutation
    async def announce_deal(
        self,
        info: Info,
        deal_id: str,
        title: str,
        legs: list[LegInput],
        effective_at: EffectiveAt,
        source: SourceInput,
        conditions: str | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "announce_deal", **_arguments(locals()))

    @strawberry.mutation
    async def amend_deal(
        self,
        info: Info,
        deal_id: str,
        legs: list[LegInput],
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "amend_deal", **_arguments(locals()))

    @strawberry.mutation
    async def fund_tranche(
        self,
        info: Info,
        deal_id: str,
        leg: str,
        amount_usd: Decimal,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "fund_tranche", **_arguments(locals()))

    @strawberry.mutation
    async def terminate_deal(
        self,
        info: Info,
        deal_id: str,
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "terminate_deal", **_arguments(locals()))

    @strawberry.mutation
    async def retract_event(
        self,
        info: Info,
        target_event_id: strawberry.ID,
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "retract_event", **_arguments(locals()))


def _arguments(local: dict[str, Any]) -> dict[str, Any]:
    """A mutation's arguments as the command takes them: amounts as canonical text, legs and
    dates as the event's data has them."""
    out: dict[str, Any] = {}
    for key, value in local.items():
        if key in ("self", "info"):
            continue
        if isinstance(value, Decimal):
            value = _amount(value)
        elif key == "legs":
            value = [leg.as_dict() for leg in value]
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = value.isoformat()
        elif key == "target_event_id":
            value = str(value)
        out[key] = value
    return out
