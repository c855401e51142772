"""The replay oracle: the exposure graph at (as_of, known_at), folded from raw events, simply.

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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .aggregates import fold_order, live_events

BASES = ("HEADLINE", "COMMITTED", "FUNDED")
# instrument -> whether the payer is the exposed party (else the payee is)
PAYER_EXPOSED = {
    "equity": True,
    "loan": True,
    "guarantee": True,
    "purchase": False,
    "backstop": False,
    "revenue_share": False,
    "warrant": False,
}


@dataclass(frozen=True)
class Node:
    entity_id: str
    name: str
    kind: str
    valuation_usd: Decimal | None = None
    revenue: dict[str, Any] | None = None  # the latest actual RevenueReported's data


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
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for edge in self.edges:
            if PAYER_EXPOSED[edge.instrument]:
                out[(edge.payer, edge.payee)] += edge.amount_usd
            else:
                out[(edge.payee, edge.payer)] += edge.amount_usd
        return dict(out)


def visible(events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime) -> list[Any]:
    """Steps 1-3 of the read rule: what the ledger said at ``known_at`` about ``as_of``."""
    known = [e for e in events if e.recorded_at <= known_at]
    return [e for e in live_events(known) if e.effective_at <= as_of]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def leg_amount(leg: dict[str, Any], basis: str, funded: Decimal) -> Decimal:
    if basis == "HEADLINE":
        value = leg.get("headline_usd", leg.get("committed_usd"))
        return Decimal(value) if value is not None else Decimal(0)
    if basis == "COMMITTED":
        return Decimal(leg.get("committed_usd", 0))
    return funded


def graph(
    events: Iterable[Any], as_of: dt.datetime, known_at: dt.datetime, basis: str = "HEADLINE"
) -> Graph:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    by_stream: dict[str, list[Any]] = defaultdict(list)
    for event in visible(events, as_of, known_at):
        by_stream[event.stream].append(event)

    result = Graph(as_of=as_of, known_at=known_at, basis=basis)
    for stream, stream_events in sorted(by_stream.items()):
        ordered = fold_order(stream_events)
        if stream.startswith("entity/"):
            node = _fold_entity(ordered, as_of)
            if node is not None:
                result.nodes[node.entity_id] = node
        else:
            result.edges.extend(_fold_deal(ordered, basis))
    return result


def _fold_entity(events: list[Any], as_of: dt.datetime) -> Node | None:
    registered = None
    name = None
    valuation = None
    revenue: dict[str, Any] | None = None
    for e in events:
        if e.type == "EntityRegistered":
            registered, name = e.data, e.data["name"]
        elif e.type == "EntityRenamed":
            name = e.data["name"]
        elif e.type == "ValuationReported":
            valuation = Decimal(e.data["valuation_usd"])
        elif (
            e.type == "RevenueReported"
            and not e.data["forecast"]
            and e.data["period_end"] <= as_of.astimezone(dt.UTC).date().isoformat()
            and (revenue is None or e.data["period_end"] >= revenue["period_end"])
        ):
            revenue = e.data
    if registered is None:
        return None
    return Node(
        entity_id=registered["entity_id"],
        name=name or registered["name"],
        kind=registered["kind"],
        valuation_usd=valuation,
        revenue=revenue,
    )


def _fold_deal(events: list[Any], basis: str) -> list[Edge]:
    deal_id = None
    legs: dict[str, dict[str, Any]] = {}
    funded: dict[str, Decimal] = defaultdict(Decimal)
    live = False
    for e in events:
        if e.type == "DealAnnounced":
            deal_id, live = e.data["deal_id"], True
            legs = {leg["leg"]: leg for leg in e.data["legs"]}
        elif e.type == "DealAmended":
            legs = {leg["leg"]: leg for leg in e.data["legs"]}
        elif e.type == "TrancheFunded":
            funded[e.data["leg"]] += Decimal(e.data["amount_usd"])
        elif e.type == "DealTerminated":
            live = False
    if not live or deal_id is None:
        return []
    return [
        Edge(
            deal_id=deal_id,
            leg=leg_id,
            payer=leg["payer"],
            payee=leg["payee"],
            instrument=leg["instrument"],
            amount_usd=leg_amount(leg, basis, funded[leg_id]),
            capacity_gw=_decimal(leg.get("capacity_gw")),
            shares=_decimal(leg.get("shares")),
        )
        for leg_id, leg in legs.items()
    ]
