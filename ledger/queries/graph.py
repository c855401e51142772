"""The exposure graph at (as_of, known_at): its nodes, its live legs as edges, and the
breadth-first expansion around given entities.

The answers are the values of ``ledger.domain.views``, which the replay oracle produces too,
so the two are compared field by field in the tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from ..domain.analysis import flow_amounts
from ..domain.views import Edge, Graph, Node, RevenueReport, check_basis
from ._snapshot import Snapshot, Source, params, reading, visible

# -- nodes --------------------------------------------------------------------------------------

_NODES = """
WITH names AS (
    SELECT DISTINCT ON (entity_id) entity_id, name
      FROM rm_entities e WHERE {visible_e} {only_e}
     ORDER BY entity_id, effective_at DESC, position DESC
), registered AS (
    SELECT DISTINCT ON (entity_id) entity_id, kind
      FROM rm_entities e WHERE e.type = 'EntityRegistered' AND {visible_e} {only_e}
     ORDER BY entity_id, effective_at DESC, position DESC
), valuations AS (
    SELECT DISTINCT ON (entity_id) entity_id, valuation_usd
      FROM rm_valuations v WHERE {visible_v} {only_v}
     ORDER BY entity_id, effective_at DESC, position DESC
), revenues AS (
    SELECT DISTINCT ON (entity_id) *
      FROM rm_revenues r
     WHERE {visible_r} {only_r} AND NOT r.forecast
       AND r.period_end <= (%(as_of)s AT TIME ZONE 'UTC')::date
     ORDER BY entity_id, period_end DESC, effective_at DESC, position DESC
)
SELECT r.entity_id, n.name, r.kind, v.valuation_usd,
       rv.entity_id IS NOT NULL AS has_revenue, rv.period_start, rv.period_end, rv.revenue_usd,
       rv.net_income_usd, rv.cash_burn_usd, rv.rnd_usd, rv.cash_usd, rv.forecast,
       rv.effective_at AS revenue_effective_at, rv.position AS revenue_position
  FROM registered r
  JOIN names n USING (entity_id)
  LEFT JOIN valuations v USING (entity_id)
  LEFT JOIN revenues rv USING (entity_id)
 ORDER BY r.entity_id
"""


def _nodes_sql(only: bool) -> str:
    def only_clause(alias: str) -> str:
        return f"AND {alias}.entity_id = ANY(%(ids)s)" if only else ""

    return _NODES.format(
        **{f"visible_{a}": visible(a) for a in "evr"},
        **{f"only_{a}": only_clause(a) for a in "evr"},
    )


_NODES_ALL = _nodes_sql(False)
_NODES_SOME = _nodes_sql(True)


def revenue_of(row: Any, prefix: str = "") -> RevenueReport:
    """A revenue report from a row of ``rm_revenues`` (its own columns under ``prefix``)."""
    return RevenueReport(
        entity_id=row.entity_id,
        period_start=row.period_start,
        period_end=row.period_end,
        revenue_usd=row.revenue_usd,
        forecast=row.forecast,
        effective_at=getattr(row, f"{prefix}effective_at"),
        position=getattr(row, f"{prefix}position"),
        net_income_usd=row.net_income_usd,
        cash_burn_usd=row.cash_burn_usd,
        rnd_usd=row.rnd_usd,
        cash_usd=row.cash_usd,
    )


def nodes(conn: Connection, at: dict[str, Any], ids: Sequence[str] | None) -> list[Node]:
    """The nodes registered at ``at`` (all of them, or those of ``ids``), by entity id."""
    sql = _NODES_ALL if ids is None else _NODES_SOME
    return [
        Node(
            entity_id=row.entity_id,
            name=row.name,
            kind=row.kind,
            valuation_usd=row.valuation_usd,
            revenue=revenue_of(row, "revenue_") if row.has_revenue else None,
        )
        for row in conn.exec_driver_sql(sql, at | {"ids": list(ids or ())})
    ]


# -- edges --------------------------------------------------------------------------------------

# The current leg set of every live deal: the last visible announcement or amendment of a deal
# whose last visible announcement-or-termination is an announcement.
_LIVE_LEGS_ALL = f"""
WITH deal_events AS (
    SELECT * FROM rm_deal_events d WHERE {visible("d")}
), liveness AS (
    SELECT DISTINCT ON (deal_id) deal_id, type
      FROM deal_events WHERE type IN ('DealAnnounced', 'DealTerminated')
     ORDER BY deal_id, effective_at DESC, position DESC
), leg_sets AS (
    SELECT DISTINCT ON (deal_id) deal_id, event_id
      FROM deal_events WHERE type IN ('DealAnnounced', 'DealAmended')
     ORDER BY deal_id, effective_at DESC, position DESC
)
SELECT l.*
  FROM liveness v
  JOIN leg_sets s USING (deal_id)
  JOIN rm_deal_legs l ON l.event_id = s.event_id
 WHERE v.type = 'DealAnnounced'
"""

# The same for the deals in which given entities pay or are paid, through the legs' indexes.
_LIVE_LEGS_TOUCHING = f"""
WITH candidates AS (
    SELECT deal_id FROM rm_deal_legs WHERE payer = ANY(%(ids)s)
    UNION
    SELECT deal_id FROM rm_deal_legs WHERE payee = ANY(%(ids)s)
)
SELECT l.*
  FROM candidates c
 CROSS JOIN LATERAL (
        SELECT d.type FROM rm_deal_events d
         WHERE d.deal_id = c.deal_id AND d.type IN ('DealAnnounced', 'DealTerminated')
           AND {visible("d")}
         ORDER BY d.effective_at DESC, d.position DESC LIMIT 1
       ) v
 CROSS JOIN LATERAL (
        SELECT d.event_id FROM rm_deal_events d
         WHERE d.deal_id = c.deal_id AND d.type IN ('DealAnnounced', 'DealAmended')
           AND {visible("d")}
         ORDER BY d.effective_at DESC, d.position DESC LIMIT 1
       ) s
  JOIN rm_deal_legs l ON l.event_id = s.event_id
 WHERE v.type = 'DealAnnounced'
   AND (l.payer = ANY(%(ids)s) OR l.payee = ANY(%(ids)s))
"""

# A leg's amount under %(basis)s (spec section 3), over the columns of ``legs`` and the funded
# sum ``f``: the one copy the queries use. The replay oracle keeps its own (``views.Leg``), and
# the tests compare the two graphs edge by edge on every basis.
_AMOUNT = """CASE %(basis)s::text
    WHEN 'HEADLINE' THEN coalesce(legs.headline_usd, legs.committed_usd, 0)
    WHEN 'COMMITTED' THEN coalesce(legs.committed_usd, 0)
    ELSE coalesce(f.funded_usd, 0) END"""

_EDGES_TOUCHING = f"""
WITH legs AS ({_LIVE_LEGS_TOUCHING})
SELECT legs.*, coalesce(f.funded_usd, 0) AS funded_usd, {_AMOUNT} AS amount_usd
  FROM legs
  LEFT JOIN LATERAL (
        SELECT sum(t.amount_usd) AS funded_usd FROM rm_tranches t
         WHERE t.deal_id = legs.deal_id AND t.leg = legs.leg AND {visible("t")}
       ) f ON true
 ORDER BY legs.deal_id, legs.leg
"""
# For every leg, one aggregate over the tranches beats a lookup per leg.
_EDGES_ALL = f"""
WITH legs AS ({_LIVE_LEGS_ALL}), funded AS (
    SELECT t.deal_id, t.leg, sum(t.amount_usd) AS funded_usd
      FROM rm_tranches t WHERE {visible("t")}
     GROUP BY t.deal_id, t.leg
)
SELECT legs.*, coalesce(f.funded_usd, 0) AS funded_usd, {_AMOUNT} AS amount_usd
  FROM legs LEFT JOIN funded f ON f.deal_id = legs.deal_id AND f.leg = legs.leg
 {{where}}
 ORDER BY legs.deal_id, legs.leg
"""
_EDGES_ALL_AT_LEAST = _EDGES_ALL.format(where=f"WHERE {_AMOUNT} >= %(min_amount)s")
_EDGES_ALL = _EDGES_ALL.format(where="")
# The legs of the ordered pairs (payer, payee) whose legs sum to at least %(min_flow)s: what a
# circular flow of at least that amount can use, each pair's flow left whole (spec section 3).
_EDGES_ALL_FLOWS_AT_LEAST = f"""
SELECT * FROM (
    SELECT e.*, sum(e.amount_usd) OVER (PARTITION BY e.payer, e.payee) AS flow_usd
      FROM ({_EDGES_ALL}) e
) x
 WHERE x.flow_usd >= %(min_flow)s
 ORDER BY x.deal_id, x.leg
"""


def flows_at_least(found: Sequence[Edge], min_flow: Decimal) -> list[Edge]:
    """The edges of the ordered pairs whose edges sum to at least ``min_flow``."""
    sums = flow_amounts(found)
    return [e for e in found if sums[(e.payer, e.payee)] >= min_flow]


def edges(
    conn: Connection,
    at: dict[str, Any],
    basis: str,
    touching: Sequence[str] | None,
    *,
    min_amount: Decimal | None = None,
    min_flow: Decimal | None = None,
) -> list[Edge]:
    """The live legs at ``at`` as edges under ``basis``: all of them (with ``min_amount``, those
    of at least that amount; with ``min_flow``, those between payer and payee whose legs sum to
    at least that), or those paying or paid by an entity of ``touching``."""
    at = at | {"basis": basis}
    if touching is not None:
        assert min_amount is None and min_flow is None, "the filters apply to the whole graph"
        result = conn.exec_driver_sql(_EDGES_TOUCHING, at | {"ids": list(touching)})
    elif min_amount is not None:
        assert min_flow is None, "one filter at a time"
        result = conn.exec_driver_sql(_EDGES_ALL_AT_LEAST, at | {"min_amount": min_amount})
    elif min_flow is not None:
        result = conn.exec_driver_sql(_EDGES_ALL_FLOWS_AT_LEAST, at | {"min_flow": min_flow})
    else:
        result = conn.exec_driver_sql(_EDGES_ALL, at)
    # Positional access on plain tuples: a whole graph is a hundred thousand rows or more.
    index = {name: i for i, name in enumerate(result.keys())}
    deal, leg, payer, payee, instrument, amount, gw, shares = (
        index[k]
        for k in (
            "deal_id",
            "leg",
            "payer",
            "payee",
            "instrument",
            "amount_usd",
            "capacity_gw",
            "shares",
        )
    )
    return [
        Edge(
            row[deal],
            row[leg],
            row[payer],
            row[payee],
            row[instrument],
            row[amount],
            row[gw],
            row[shares],
        )
        for row in result.fetchall()
    ]


# Beyond this many entities to expand, one scan of every live leg beats index lookups for
# each: in a dense web two or three hops from a hub reach most of it anyway.
_EXPAND_BY_INDEX_UP_TO = 500


def around(
    conn: Connection,
    at: dict[str, Any],
    basis: str,
    entity_ids: Sequence[str],
    hops: int,
) -> list[Edge]:
    """The live legs within ``hops`` legs of ``entity_ids``: a breadth-first expansion."""
    everything: list[Edge] | None = None
    found: dict[tuple[str, str], Edge] = {}
    seen: set[str] = set()
    frontier = list(dict.fromkeys(entity_ids))
    for _ in range(max(hops, 1)):
        fresh = [e for e in frontier if e not in seen]
        if not fresh:
            break
        seen.update(fresh)
        if everything is None and len(fresh) > _EXPAND_BY_INDEX_UP_TO:
            everything = edges(conn, at, basis, None)
        if everything is not None:
            wanted = set(fresh)
            step = [e for e in everything if e.payer in wanted or e.payee in wanted]
        else:
            step = edges(conn, at, basis, fresh)
        frontier = []
        for edge in step:
            if (edge.deal_id, edge.leg) not in found:
                found[(edge.deal_id, edge.leg)] = edge
                frontier.extend((edge.payer, edge.payee))
    return list(found.values())


# -- the exposure graph -------------------------------------------------------------------------


def graph(
    source: Source,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    entity_ids: Sequence[str] | None = None,
    hops: int = 1,
    min_amount: Decimal | None = None,
    min_flow: Decimal | None = None,
    at_position: int | None = None,
    at_least: int | None = None,
) -> Graph:
    """The exposure graph at valid time ``as_of`` as the ledger knew it at ``known_at``.

    With ``entity_ids``: only the live legs within ``hops`` legs of those entities, and the
    nodes they join. With ``min_amount``: only edges of at least that amount (for the whole
    graph, filtered in SQL; around entities, after the expansion, which follows every leg).
    With ``min_flow``: only the edges between an ordered pair (payer, payee) whose edges sum
    to at least that amount, every one of them, so the pair's flow stays whole (what circular
    flows of at least that amount are made of). Asked of a ``Snapshot``, the whole graph at a
    point is built once and filtered here.
    """
    check_basis(basis)
    at = params(as_of, known_at, at_position, at_least)
    with reading(source, at) as conn:
        known = at["known_at"]
        result = Graph(as_of=as_of, known_at=known, basis=basis)
        if entity_ids is None and isinstance(source, Snapshot):
            # The whole graph at one point, built once per snapshot: a request's exposure
            # graph, circular flows and stress test at the same point share it.
            whole = source.remember(
                ("graph", as_of, known, at["position"], basis),
                lambda: _whole(conn, at, Graph(as_of=as_of, known_at=known, basis=basis)),
            )
            result.nodes = dict(whole.nodes)
            result.edges = [
                e for e in whole.edges if min_amount is None or e.amount_usd >= min_amount
            ]
            if min_flow is not None:
                result.edges = flows_at_least(result.edges, min_flow)
            return result
        if entity_ids is None:
            found = edges(conn, at, basis, None, min_amount=min_amount, min_flow=min_flow)
        else:
            found = around(conn, at, basis, entity_ids, hops)
            found.sort(key=lambda e: (e.deal_id, e.leg))
            if min_amount is not None:
                found = [e for e in found if e.amount_usd >= min_amount]
            if min_flow is not None:
                found = flows_at_least(found, min_flow)
        result.edges = found
        wanted = None
        if entity_ids is not None:
            wanted = sorted(set(entity_ids) | {e.payer for e in found} | {e.payee for e in found})
        for node in nodes(conn, at, wanted):
            result.nodes[node.entity_id] = node
    return result


def _whole(conn: Connection, at: dict[str, Any], result: Graph) -> Graph:
    result.edges = edges(conn, at, result.basis, None)
    result.nodes = {node.entity_id: node for node in nodes(conn, at, None)}
    return result


def entities(
    source: Source,
    entity_ids: Sequence[str],
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> dict[str, Node]:
    """The nodes of several entities in one query (for the API's batch loaders)."""
    at = params(as_of, known_at, at_position, at_least)
    with reading(source, at) as conn:
        return {n.entity_id: n for n in nodes(conn, at, entity_ids)}
