"""GraphQL types of the answers computed over the exposure graph and the ledger as a whole:
the graph itself, circular flows, stress tests, series and the ledger's span and head.

They sit apart from ``types`` (the entity and deal web a client walks) because they change
with the analysis, not with the read models; they point into that web, never the other way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import strawberry

from ledger.domain import views

from .types import At, Basis, Deal, Entity, Exposure, Info


@strawberry.type
class Edge:
    """A live leg: money flows from payer to payee."""

    leg: str
    instrument: str
    amount_usd: Decimal
    capacity_gw: Decimal | None
    shares: Decimal | None
    deal_id: str
    payer_id: str
    payee_id: str
    at: strawberry.Private[At]
    # The nodes of the graph the edge came from: its payer and payee are there, at the same
    # point and in the same snapshot, so they are answered without a loader (priming one with
    # every node of a hub's graph cost more than the edges' own resolution).
    nodes: strawberry.Private[Mapping[str, views.Node]]

    @classmethod
    def of(cls, e: views.Edge, at: At, nodes: Mapping[str, views.Node]) -> Edge:
        return cls(
            leg=e.leg,
            instrument=e.instrument,
            amount_usd=e.amount_usd,
            capacity_gw=e.capacity_gw,
            shares=e.shares,
            deal_id=e.deal_id,
            payer_id=e.payer,
            payee_id=e.payee,
            at=at,
            nodes=nodes,
        )

    @strawberry.field
    async def payer(self, info: Info) -> Entity:
        return await self._entity(info, self.payer_id)

    @strawberry.field
    async def payee(self, info: Info) -> Entity:
        return await self._entity(info, self.payee_id)

    async def _entity(self, info: Info, entity_id: str) -> Entity:
        node = self.nodes.get(entity_id)
        return Entity.of(node, self.at) if node else await Entity.load(info, entity_id, self.at)

    @strawberry.field
    async def deal(self, info: Info) -> Deal | None:
        found = await info.context.deals.load((self.deal_id, *self.at.point))
        return Deal.of(found, self.at) if found else None


@strawberry.type
class ExposureGraph:
    as_of: dt.datetime
    known_at: dt.datetime
    basis: Basis
    graph: strawberry.Private[views.Graph]
    at: strawberry.Private[At]

    # Each list is built only when asked for: around a hub the graph holds a hundred thousand
    # legs, and a client that wants nodes and edges should not pay for the exposures.
    @strawberry.field
    def nodes(self) -> list[Entity]:
        return [Entity.of(n, self.at) for n in self.graph.nodes.values()]

    @strawberry.field
    def edges(self) -> list[Edge]:
        nodes = self.graph.nodes
        return [Edge.of(e, self.at, nodes) for e in self.graph.edges]

    @strawberry.field
    def exposures(self) -> list[Exposure]:
        ranked = sorted(self.graph.exposures().items(), key=lambda x: (-x[1], x[0]))
        return [
            Exposure(from_id=a, to_id=b, amount_usd=amount, at=self.at) for (a, b), amount in ranked
        ]


@strawberry.type
class CircularFlow:
    entity_ids: list[str]
    amount_usd: Decimal = strawberry.field(description="The smallest flow on the cycle.")
    at: strawberry.Private[At]

    @strawberry.field
    async def entities(self, info: Info) -> list[Entity]:
        return list(await asyncio.gather(*(Entity.load(info, e, self.at) for e in self.entity_ids)))


@strawberry.type
class Loss:
    entity_id: str
    loss_usd: Decimal
    share_of_valuation: Decimal | None


@strawberry.type
class StressRound:
    number: int
    defaulted: list[str] = strawberry.field(description="Defaulted going into this round.")
    losses: list[Loss]
    new_defaults: list[str]


@strawberry.type
class StressTest:
    rounds: list[StressRound]
    defaulted: list[str] = strawberry.field(description="Everyone defaulted at the end.")


@strawberry.type
class SeriesPoint:
    as_of: dt.datetime
    value: Decimal | None


@strawberry.type(description="The valid time the projected history covers.")
class LedgerSpan:
    first_effective_at: dt.datetime = strawberry.field(
        description="The earliest effectiveAt of any event."
    )
    first_activity_at: dt.datetime | None = strawberry.field(
        description="The earliest effectiveAt of an event other than EntityRegistered: before "
        "it the web has no edges."
    )
    last_effective_at: dt.datetime = strawberry.field(
        description="The latest effectiveAt of any event."
    )


@strawberry.type
class LedgerHead:
    position: int
    hash: str
    recorded_at: dt.datetime | None
    digest: str = strawberry.field(description="POSITION:HASH, what an auditor keeps.")
