"""GraphQL types: views over the ledger's read models (``ledger.domain.views``).

Each object carries the (asOf, knownAt, basis) it was asked at, so nested fields answer at
the same point of both time axes; nested lists resolve through the context's DataLoaders.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from ledger.domain import analysis, views
from ledger.domain.envelope import RecordedEvent

from .context import Context


@strawberry.enum(description="Which amount of a leg counts (spec section 3).")
class Basis(enum.Enum):
    HEADLINE = "HEADLINE"
    COMMITTED = "COMMITTED"
    FUNDED = "FUNDED"


@strawberry.enum
class DealStatus(enum.Enum):
    LIVE = "LIVE"
    TERMINATED = "TERMINATED"


@strawberry.enum
class Metric(enum.Enum):
    VALUATION = "VALUATION"
    EXPOSURE_IN = "EXPOSURE_IN"
    EXPOSURE_OUT = "EXPOSURE_OUT"
    COMMITMENT_RATIO = "COMMITMENT_RATIO"
    CIRCULAR_AMOUNT = "CIRCULAR_AMOUNT"


@strawberry.enum
class Interval(enum.Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


Info = strawberry.Info[Context, None]


@strawberry.type
class At:
    """The point of both time axes an answer is for, and the prefix of the log it may read:
    ``known_at`` None is the request's basis instant (now), ``position`` the ``atPosition``
    asked for, if any, and ``at_least`` the ``atLeastPosition`` (root fields only)."""

    as_of: dt.datetime
    known_at: dt.datetime | None
    basis: Basis = Basis.HEADLINE
    position: int | None = None
    at_least: int | None = None

    @property
    def point(self) -> tuple[dt.datetime, dt.datetime | None, int | None]:
        """(as_of, known_at, position): what a loader's key holds after the id."""
        return (self.as_of, self.known_at, self.position)


@strawberry.type
class Valuation:
    valuation_usd: Decimal
    basis: str
    round_size_usd: Decimal | None
    effective_at: dt.datetime
    position: int

    @classmethod
    def of(cls, v: views.Valuation) -> Valuation:
        return cls(
            valuation_usd=v.valuation_usd,
            basis=v.basis,
            round_size_usd=v.round_size_usd,
            effective_at=v.effective_at,
            position=v.position,
        )


@strawberry.type
class RevenueReport:
    period_start: dt.date
    period_end: dt.date
    revenue_usd: Decimal
    annualised_usd: Decimal
    net_income_usd: Decimal | None
    cash_burn_usd: Decimal | None
    rnd_usd: Decimal | None
    cash_usd: Decimal | None
    forecast: bool
    effective_at: dt.datetime
    position: int

    @classmethod
    def of(cls, r: views.RevenueReport) -> RevenueReport:
        return cls(
            period_start=r.period_start,
            period_end=r.period_end,
            revenue_usd=r.revenue_usd,
            annualised_usd=r.annualised_usd,
            net_income_usd=r.net_income_usd,
            cash_burn_usd=r.cash_burn_usd,
            rnd_usd=r.rnd_usd,
            cash_usd=r.cash_usd,
            forecast=r.forecast,
            effective_at=r.effective_at,
            position=r.position,
        )


@strawberry.type
class Exposure:
    """What ``from`` loses if ``to`` fails."""

    from_id: strawberry.Private[str]
    to_id: strawberry.Private[str]
    amount_usd: Decimal
    at: strawberry.Private[At]

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> Entity:
        return await Entity.load(info, self.from_id, self.at)

    @strawberry.field
    async def to(self, info: Info) -> Entity:
        return await Entity.load(info, self.to_id, self.at)


@strawberry.type
class EntityExposures:
    outgoing: list[Exposure] = strawberry.field(
        description="What this entity loses if each counterparty fails, largest first."
    )
    incoming: list[Exposure] = strawberry.field(
        description="What each counterparty loses if this entity fails, largest first."
    )
    total_out_usd: Decimal
    total_in_usd: Decimal


@strawberry.type
class CustomerShare:
    customer_id: str
    amount_usd: Decimal


@strawberry.type
class CustomerConcentration:
    total_usd: Decimal
    customers: list[CustomerShare]
    top_share: Decimal | None = strawberry.field(
        description="The share of purchases from the largest customer."
    )


@strawberry.type
class Entity:
    id: strawberry.ID
    name: str
    kind: str
    valuation_usd: Decimal | None
    at: strawberry.Private[At]
    node: strawberry.Private[views.Node]

    @classmethod
    def of(cls, node: views.Node, at: At) -> Entity:
        return cls(
            id=strawberry.ID(node.entity_id),
            name=node.name,
            kind=node.kind,
            valuation_usd=node.valuation_usd,
            at=at,
            node=node,
        )

    @classmethod
    async def load(cls, info: Info, entity_id: str, at: At) -> Entity:
        node = await info.context.nodes.load((entity_id, *at.point))
        if node is None:  # a leg names an entity whose registration is not visible here
            node = views.Node(entity_id=entity_id, name=entity_id, kind="unknown")
        return cls.of(node, at)

    async def _view(self, info: Info) -> views.EntityView | None:
        return await info.context.entity_views.load(
            (str(self.id), self.at.as_of, self.at.known_at, self.at.basis.value, self.at.position)
        )

    @strawberry.field(description="The latest actual revenue report with periodEnd <= asOf.")
    def revenue(self) -> RevenueReport | None:
        return RevenueReport.of(self.node.revenue) if self.node.revenue else None

    @strawberry.field(description="Valuations effective by asOf, oldest first.")
    async def valuations(self, info: Info) -> list[Valuation]:
        view = await self._view(info)
        return [Valuation.of(v) for v in view.valuations] if view else []

    @strawberry.field
    async def valuation(self, info: Info) -> Valuation | None:
        view = await self._view(info)
        return Valuation.of(view.valuations[-1]) if view and view.valuations else None

    @strawberry.field(description="Actual and forecast reports, by period end.")
    async def revenue_reports(self, info: Info) -> list[RevenueReport]:
        view = await self._view(info)
        return [RevenueReport.of(r) for r in view.revenue_reports] if view else []

    @strawberry.field
    async def exposures(self, info: Info) -> EntityExposures:
        view = await self._view(info)
        found = view.exposures if view else analysis.EntityExposures([], [])
        me = str(self.id)
        return EntityExposures(
            outgoing=[
                Exposure(from_id=me, to_id=o, amount_usd=a, at=self.at) for o, a in found.outgoing
            ],
            incoming=[
                Exposure(from_id=o, to_id=me, amount_usd=a, at=self.at) for o, a in found.incoming
            ],
            total_out_usd=found.total_out,
            total_in_usd=found.total_in,
        )

    @strawberry.field(
        description="Live purchase and backstop legs it pays over its annualised revenue."
    )
    async def commitment_ratio(self, info: Info) -> Decimal | None:
        view = await self._view(info)
        return view.commitment_ratio if view else None

    @strawberry.field
    async def customer_concentration(self, info: Info) -> CustomerConcentration:
        view = await self._view(info)
        c = view.customer_concentration if view else analysis.Concentration(Decimal(0), [])
        return CustomerConcentration(
            total_usd=c.total,
            customers=[CustomerShare(customer_id=k, amount_usd=a) for k, a in c.customers],
            top_share=c.share(1),
        )

    @strawberry.field(description="Deals announced by asOf with a current leg it is party to.")
    async def deals(self, info: Info) -> list[Deal]:
        found = await info.context.deals_of.load((str(self.id), *self.at.point))
        return [Deal.of(d, self.at) for d in found or []]


@strawberry.type
class Leg:
    leg: str
    payer_id: str
    payee_id: str
    instrument: str
    headline_usd: Decimal | None
    committed_usd: Decimal | None
    funded_usd: Decimal
    capacity_gw: Decimal | None
    shares: Decimal | None
    term_start: dt.date | None
    term_end: dt.date | None
    at: strawberry.Private[At]

    @classmethod
    def of(cls, leg: views.Leg, at: At) -> Leg:
        return cls(
            leg=leg.leg,
            payer_id=leg.payer,
            payee_id=leg.payee,
            instrument=leg.instrument,
            headline_usd=leg.headline_usd,
            committed_usd=leg.committed_usd,
            funded_usd=leg.funded_usd,
            capacity_gw=leg.capacity_gw,
            shares=leg.shares,
            term_start=leg.term_start,
            term_end=leg.term_end,
            at=at,
        )

    @strawberry.field
    async def payer(self, info: Info) -> Entity:
        return await Entity.load(info, self.payer_id, self.at)

    @strawberry.field
    async def payee(self, info: Info) -> Entity:
        return await Entity.load(info, self.payee_id, self.at)


@strawberry.type
class Event:
    """A recorded event, as the log holds it."""

    position: int
    stream: str
    stream_version: int
    event_id: strawberry.ID
    type: str
    schema_version: int
    effective_at: dt.datetime
    recorded_at: dt.datetime
    data: JSON
    source: JSON
    metadata: JSON
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: RecordedEvent) -> Event:
        return cls(
            position=e.position,
            stream=e.stream,
            stream_version=e.stream_version,
            event_id=strawberry.ID(str(e.event_id)),
            type=e.type,
            schema_version=e.schema_version,
            effective_at=e.effective_at,
            recorded_at=e.recorded_at,
            data=JSON(e.data),
            source=JSON(e.source),
            metadata=JSON(e.metadata),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


@strawberry.type
class Deal:
    id: strawberry.ID
    title: str
    status: DealStatus
    announced_at: dt.datetime
    terminated_at: dt.datetime | None
    conditions: str | None
    legs: list[Leg]
    at: strawberry.Private[At]

    @classmethod
    def of(cls, d: views.DealView, at: At) -> Deal:
        return cls(
            id=strawberry.ID(d.deal_id),
            title=d.title,
            status=DealStatus(d.status),
            announced_at=d.announced_at,
            terminated_at=d.terminated_at,
            conditions=d.conditions,
            legs=[Leg.of(leg, at) for leg in d.legs],
            at=at,
        )

    @strawberry.field(description="The deal stream's events as recorded by knownAt.")
    async def history(self, info: Info) -> list[Event]:
        found = await info.context.histories.load(
            (f"deal/{self.id}", self.at.known_at, self.at.position)
        )
        return [Event.of(e) for e in found or []]
