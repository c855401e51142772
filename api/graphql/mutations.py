"""The writes (spec section 4): one mutation per event type, each answering a typed result.

A mutation builds its command (``ledger.domain.commands``) from its arguments as GraphQL
parsed them (amounts as ``Decimal``, dates as dates: the domain normalises them), and
``_record`` checks who may write, adds who recorded it to the envelope, has the ledger's
command service handle it on a thread, and answers ``Recorded`` or the refusal as a type of
``results``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from ledger.domain.commands import (
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
from ledger.domain.errors import LedgerError, ValidationError

from ..observability import EVENTS_APPENDED
from .permissions import WRITE_REFUSED, may_write
from .results import ForbiddenProblem, Recorded, RecordResult, result_of
from .types import Event, Info


@strawberry.input
class SourceInput:
    url: str | None = None
    title: str | None = None
    note: str | None = None

    def to_domain(self) -> dict[str, str]:
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

    def to_domain(self) -> dict[str, Any]:
        """The leg as a deal command takes it: amounts as ``Decimal``, terms as dates (the
        domain normalises them); fields not given are left out."""
        return {name: value for name in LEG_FIELDS if (value := getattr(self, name)) is not None}


LEG_FIELDS = (
    "leg",
    "payer",
    "payee",
    "instrument",
    "headline_usd",
    "committed_usd",
    "capacity_gw",
    "shares",
    "term_start",
    "term_end",
)


def envelope(
    effective_at: dt.datetime,
    source: SourceInput,
    event_id: strawberry.ID | None,
    expected_version: int | None,
    metadata: Any,
) -> Envelope:
    """The five envelope arguments every mutation takes, as the command's ``Envelope``
    (the metadata as the client gave it: ``_record`` adds who recorded it)."""
    return Envelope(
        effective_at=effective_at,
        source=source.to_domain(),
        event_id=event_id,
        expected_version=expected_version,
        metadata=metadata,
    )


async def _record(info: Info, command: Command) -> RecordResult:
    """Record a command; the domain's refusals become typed results, nothing partial is written.

    Who may write is asked first, so a caller without a writer's key learns that, whatever
    else is wrong with the request. Then the envelope gets who recorded it, from the key, not
    from the client: the audit trail cannot be forged."""
    context = info.context
    if not may_write(context):
        return ForbiddenProblem(message=WRITE_REFUSED)
    given = command.envelope
    event_id = None
    if given.event_id is not None:
        try:
            event_id = uuid.UUID(str(given.event_id))
        except ValueError:
            return result_of(ValidationError("eventId", "must be a UUID"))
    metadata = {} if given.metadata is None else given.metadata
    if not isinstance(metadata, dict):
        return result_of(ValidationError("metadata", "must be an object"))
    trail = {"actor": context.actor or "anonymous", "actor_role": context.role or "none"}
    if context.request_id:
        trail["request_id"] = context.request_id
    stamped = replace(given, event_id=event_id, metadata={**metadata, **trail})
    try:
        # Straight to a thread, not through ``run``: a refusal here is a typed result.
        recorded = await asyncio.to_thread(
            context.commands.handle, replace(command, envelope=stamped)
        )
    except LedgerError as exc:
        return result_of(exc)
    EVENTS_APPENDED.labels(recorded.type).inc()
    context.wrote(recorded.position)
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
        return await _record(
            info,
            RegisterEntity(
                entity_id=entity_id,
                name=name,
                kind=kind,
                ticker=ticker,
                country=country,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            RenameEntity(
                entity_id=entity_id,
                name=name,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            ReportValuation(
                entity_id=entity_id,
                valuation_usd=valuation_usd,
                basis=basis,
                round_size_usd=round_size_usd,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            ReportRevenue(
                entity_id=entity_id,
                period_start=period_start,
                period_end=period_end,
                revenue_usd=revenue_usd,
                forecast=forecast,
                net_income_usd=net_income_usd,
                cash_burn_usd=cash_burn_usd,
                rnd_usd=rnd_usd,
                cash_usd=cash_usd,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            AnnounceDeal(
                deal_id=deal_id,
                title=title,
                legs=[leg.to_domain() for leg in legs],
                conditions=conditions,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            AmendDeal(
                deal_id=deal_id,
                legs=[leg.to_domain() for leg in legs],
                reason=reason,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            FundTranche(
                deal_id=deal_id,
                leg=leg,
                amount_usd=amount_usd,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            TerminateDeal(
                deal_id=deal_id,
                reason=reason,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )

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
        return await _record(
            info,
            RetractEvent(
                target_event_id=target_event_id,
                reason=reason,
                envelope=envelope(effective_at, source, event_id, expected_version, metadata),
            ),
        )
