"""The replay oracle: answers at (as_of, known_at), folded from raw events, simply.

This is the spec's definition (sections 2 and 3) written as directly as possible, with no
indexes, caches or SQL: the read models are fast, this is obviously right, and property tests
hold the two to the same answers. ``ledger replay`` (the auditor's command) uses it too.

1. keep the events recorded at or before ``known_at``;
2. drop every event retracted by a retraction among them, and the retractions;
3. keep those effective at or before ``as_of``;
4. fold each stream in ``(effective_at, position)`` order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .aggregates import fold_order, live_events
from .views import (
    BASES,
    DealView,
    Edge,
    EntityView,
    Graph,
    Leg,
    Node,
    RevenueReport,
    Valuation,
    check_basis,
)

__all__ = ["BASES", "Edge", "Graph", "Node", "deals", "entity", "graph", "visible"]


def visible(events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime) -> list[Any]:
    """Steps 1-3 of the read rule: what the ledger said at ``known_at`` about ``as_of``."""
    known = [e for e in events if e.recorded_at <= known_at]
    return [e for e in live_events(known) if e.effective_at <= as_of]


def _streams(
    events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime
) -> dict[str, list[Any]]:
    by_stream: dict[str, list[Any]] = defaultdict(list)
    for event in visible(events, as_of, known_at):
        by_stream[event.stream].append(event)
    return {stream: fold_order(es) for stream, es in sorted(by_stream.items())}


def graph(
    events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime, basis: str = "HEADLINE"
) -> Graph:
    check_basis(basis)
    result = Graph(as_of=as_of, known_at=known_at, basis=basis)
    for stream, ordered in _streams(events, as_of, known_at).items():
        if stream.startswith("entity/"):
            node = _fold_entity(ordered, as_of)[0]
            if node is not None:
                result.nodes[node.entity_id] = node
        else:
            deal = _fold_deal(ordered)
            if deal is not None:
                result.edges.extend(deal.edges(basis))
    return result


def entity(
    events: Iterable[Any],
    entity_id: str,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> EntityView | None:
    check_basis(basis)
    streams = _streams(events, as_of, known_at)
    node, valuations, reports = _fold_entity(streams.get(f"entity/{entity_id}", []), as_of)
    if node is None:
        return None
    edges = [
        edge
        for stream, ordered in streams.items()
        if stream.startswith("deal/") and (deal := _fold_deal(ordered)) is not None
        for edge in deal.edges(basis)
        if entity_id in (edge.payer, edge.payee)
    ]
    return EntityView(node=node, valuations=valuations, revenue_reports=reports, edges=edges)


def deals(events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime) -> list[DealView]:
    """Every deal announced by ``as_of``, live or terminated, by deal id."""
    out = []
    for stream, ordered in _streams(events, as_of, known_at).items():
        if stream.startswith("deal/") and (deal := _fold_deal(ordered)) is not None:
            out.append(deal)
    return out


class EntityFold:
    """An entity's stream folded event by event (in fold order) into its state at as_of."""

    def __init__(self) -> None:
        self.registered: dict[str, Any] | None = None
        self.name: str | None = None
        self.valuations: list[Valuation] = []
        self.reports: list[RevenueReport] = []

    def apply(self, e: Any) -> None:
        if e.type == "EntityRegistered":
            self.registered, self.name = e.data, e.data["name"]
        elif e.type == "EntityRenamed":
            self.name = e.data["name"]
        elif e.type == "ValuationReported":
            self.valuations.append(Valuation.from_event(e))
        elif e.type == "RevenueReported":
            self.reports.append(RevenueReport.from_event(e))

    def latest_actual(self, as_of: dt.datetime) -> RevenueReport | None:
        """The actual report with the latest period_end <= as_of (ties: the last folded)."""
        day = as_of.astimezone(dt.UTC).date()
        latest = None
        for report in self.reports:
            if (
                not report.forecast
                and report.period_end <= day
                and (latest is None or report.period_end >= latest.period_end)
            ):
                latest = report
        return latest

    def node(self, as_of: dt.datetime) -> Node | None:
        if self.registered is None:
            return None
        return Node(
            entity_id=self.registered["entity_id"],
            name=self.name or self.registered["name"],
            kind=self.registered["kind"],
            valuation_usd=self.valuations[-1].valuation_usd if self.valuations else None,
            revenue=self.latest_actual(as_of),
        )


def _fold_entity(
    events: list[Any], as_of: dt.datetime
) -> tuple[Node | None, list[Valuation], list[RevenueReport]]:
    fold = EntityFold()
    for e in events:
        fold.apply(e)
    node = fold.node(as_of)
    if node is None:
        return None, [], []
    reports = sorted(fold.reports, key=lambda r: (r.period_end, r.effective_at, r.position))
    return node, fold.valuations, reports


class DealFold:
    """A deal's stream folded event by event (in fold order)."""

    def __init__(self) -> None:
        self.announced: Any = None
        self.legs: list[dict[str, Any]] = []
        self.funded: dict[str, Decimal] = defaultdict(Decimal)
        self.terminated_at: dt.datetime | None = None

    def apply(self, e: Any) -> None:
        if e.type == "DealAnnounced":
            self.announced, self.legs, self.terminated_at = e, e.data["legs"], None
        elif e.type == "DealAmended":
            self.legs = e.data["legs"]
        elif e.type == "TrancheFunded":
            self.funded[e.data["leg"]] += Decimal(e.data["amount_usd"])
        elif e.type == "DealTerminated":
            self.terminated_at = e.effective_at

    def view(self) -> DealView | None:
        if self.announced is None:
            return None
        data = self.announced.data
        return DealView(
            deal_id=data["deal_id"],
            title=data["title"],
            status="LIVE" if self.terminated_at is None else "TERMINATED",
            announced_at=self.announced.effective_at,
            conditions=data.get("conditions"),
            legs=tuple(Leg.from_data(leg, self.funded[leg["leg"]]) for leg in self.legs),
            terminated_at=self.terminated_at,
        )


def _fold_deal(events: list[Any]) -> DealView | None:
    fold = DealFold()
    for e in events:
        fold.apply(e)
    return fold.view()
