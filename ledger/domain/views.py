"""The shapes of the ledger's answers: what a question at (as_of, known_at) returns.

Both the read-model queries (fast, SQL) and the replay oracle (simple, in memory) build these
values, so the two can be compared field by field, and the API renders them without knowing
which produced them. Money is ``Decimal``; measures derived from a view come from
``ledger.domain.analysis``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import analysis
from .errors import ValidationError

BASES = ("HEADLINE", "COMMITTED", "FUNDED")
DEAL_STATUSES = ("LIVE", "TERMINATED")


def check_basis(basis: str) -> str:
    if basis not in BASES:
        raise ValidationError("basis", f"must be one of {', '.join(BASES)}, got {basis!r}")
    return basis


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


@dataclass(frozen=True)
class Valuation:
    entity_id: str
    valuation_usd: Decimal
    basis: str
    round_size_usd: Decimal | None
    effective_at: dt.datetime
    position: int

    @classmethod
    def from_event(cls, event: Any) -> Valuation:
        d = event.data
        return cls(
            entity_id=d["entity_id"],
            valuation_usd=Decimal(d["valuation_usd"]),
            basis=d["basis"],
            round_size_usd=_decimal(d.get("round_size_usd")),
            effective_at=event.effective_at,
            position=event.position,
        )


@dataclass(frozen=True)
class RevenueReport:
    entity_id: str
    period_start: dt.date
    period_end: dt.date
    revenue_usd: Decimal
    forecast: bool
    effective_at: dt.datetime
    position: int
    net_income_usd: Decimal | None = None
    cash_burn_usd: Decimal | None = None
    rnd_usd: Decimal | None = None
    cash_usd: Decimal | None = None

    @classmethod
    def from_event(cls, event: Any) -> RevenueReport:
        d = event.data
        return cls(
            entity_id=d["entity_id"],
            period_start=dt.date.fromisoformat(d["period_start"]),
            period_end=dt.date.fromisoformat(d["period_end"]),
            revenue_usd=Decimal(d["revenue_usd"]),
            forecast=d["forecast"],
            effective_at=event.effective_at,
            position=event.position,
            net_income_usd=_decimal(d.get("net_income_usd")),
            cash_burn_usd=_decimal(d.get("cash_burn_usd")),
            rnd_usd=_decimal(d.get("rnd_usd")),
            cash_usd=_decimal(d.get("cash_usd")),
        )

    @property
    def annualised_usd(self) -> Decimal:
        return analysis.annualised(self.revenue_usd, self.period_start, self.period_end)


@dataclass(frozen=True)
class Node:
    entity_id: str
    name: str
    kind: str
    valuation_usd: Decimal | None = None
    revenue: RevenueReport | None = None  # the latest actual report with period_end <= as_of


@dataclass(frozen=True)
class Edge:
    deal_id: str
    leg: str
    payer: str
    payee: str
    instrument: str
    amount_usd: Decimal
    capacity_gw: Decimal | None = None
    shares: Decimal | None = None


@dataclass
class Graph:
    as_of: dt.datetime
    known_at: dt.datetime
    basis: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def exposures(self) -> dict[tuple[str, str], Decimal]:
        """exposure(A, B): what A loses if B fails, summed over the live legs."""
        return analysis.exposures(self.edges)


@dataclass(frozen=True)
class EntityView:
    """One entity at (as_of, known_at): its node, histories, and the live legs it is party to."""

    node: Node
    valuations: list[Valuation]  # effective by as_of, in (effective_at, position) order
    revenue_reports: list[RevenueReport]  # actuals and forecasts, by period_end
    edges: list[Edge]  # live legs in which it pays or is paid

    @property
    def exposures(self) -> analysis.EntityExposures:
        return analysis.entity_exposures(self.edges, self.node.entity_id)

    @property
    def commitment_ratio(self) -> Decimal | None:
        return analysis.commitment_ratio(self.edges, self.node.entity_id, self.node.revenue)

    @property
    def customer_concentration(self) -> analysis.Concentration:
        return analysis.customer_concentration(self.edges, self.node.entity_id)


@dataclass(frozen=True)
class Leg:
    leg: str
    payer: str
    payee: str
    instrument: str
    headline_usd: Decimal | None
    committed_usd: Decimal | None
    funded_usd: Decimal
    capacity_gw: Decimal | None = None
    shares: Decimal | None = None
    term_start: dt.date | None = None
    term_end: dt.date | None = None

    @classmethod
    def from_data(cls, leg: Mapping[str, Any], funded: Decimal) -> Leg:
        return cls(
            leg=leg["leg"],
            payer=leg["payer"],
            payee=leg["payee"],
            instrument=leg["instrument"],
            headline_usd=_decimal(leg.get("headline_usd")),
            committed_usd=_decimal(leg.get("committed_usd")),
            funded_usd=funded,
            capacity_gw=_decimal(leg.get("capacity_gw")),
            shares=_decimal(leg.get("shares")),
            term_start=_date(leg.get("term_start")),
            term_end=_date(leg.get("term_end")),
        )

    def amount(self, basis: str) -> Decimal:
        """The leg's amount under a basis (spec section 3)."""
        if basis == "HEADLINE":
            value = self.headline_usd if self.headline_usd is not None else self.committed_usd
            return value if value is not None else Decimal(0)
        if basis == "COMMITTED":
            return self.committed_usd if self.committed_usd is not None else Decimal(0)
        return self.funded_usd

    def edge(self, deal_id: str, basis: str) -> Edge:
        return Edge(
            deal_id=deal_id,
            leg=self.leg,
            payer=self.payer,
            payee=self.payee,
            instrument=self.instrument,
            amount_usd=self.amount(basis),
            capacity_gw=self.capacity_gw,
            shares=self.shares,
        )


@dataclass(frozen=True)
class DealView:
    """A deal at (as_of, known_at): announced by as_of, live until its termination."""

    deal_id: str
    title: str
    status: str  # LIVE or TERMINATED
    announced_at: dt.datetime
    conditions: str | None
    legs: tuple[Leg, ...]  # the current set (the announcement's or the last amendment's)
    terminated_at: dt.datetime | None = None

    def edges(self, basis: str) -> list[Edge]:
        return [leg.edge(self.deal_id, basis) for leg in self.legs] if self.status == "LIVE" else []


@dataclass(frozen=True)
class Page:
    """One page of a list ordered by a stable key, in that order; ``after`` the last key to
    continue forward, ``before`` the first to go back. ``has_previous`` / ``has_next``: items
    exist before / after the page."""

    items: list[Any]
    has_next: bool
    has_previous: bool = False

    @property
    def start_key(self) -> str | None:
        return self.items[0].deal_id if self.items else None

    @property
    def end_key(self) -> str | None:
        return self.items[-1].deal_id if self.items else None


@dataclass(frozen=True)
class Span:
    """The valid time a history covers: where a time slider starts and ends, and where the
    web's first edge can appear (before the first event that is not a registration)."""

    first_effective_at: dt.datetime
    first_activity_at: dt.datetime | None
    last_effective_at: dt.datetime
