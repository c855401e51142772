"""Questions to the read models at (as_of, known_at), answered by indexed queries, not replay.

The answers are the values of ``ledger.domain.views``, which the replay oracle produces too,
so the two are compared field by field in the tests. A row is visible at (T, K) when it is
effective by T, recorded by K and not retracted by K; "the latest" is the last visible row in
``(effective_at, position)`` order, which the ``*_latest`` indexes serve.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from ..domain import analysis
from ..domain import series as series_fold
from ..domain.envelope import RecordedEvent
from ..domain.errors import NotFound, ValidationError
from ..domain.views import (
    DEAL_STATUSES,
    DealView,
    Edge,
    EntityView,
    Graph,
    Leg,
    Node,
    Page,
    RevenueReport,
    Span,
    Valuation,
    check_basis,
)
from ..store import EventStore
from . import projection

MAX_PAGE = 500

_VISIBLE = (
    "{t}.effective_at <= %(as_of)s AND {t}.recorded_at <= %(known_at)s "
    "AND ({t}.retracted_at IS NULL OR {t}.retracted_at > %(known_at)s)"
)


def _visible(alias: str) -> str:
    return _VISIBLE.format(t=alias)


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
        **{f"visible_{a}": _visible(a) for a in "evr"},
        **{f"only_{a}": only_clause(a) for a in "evr"},
    )


_NODES_ALL = _nodes_sql(False)
_NODES_SOME = _nodes_sql(True)


def _revenue(row: Any, prefix: str = "") -> RevenueReport:
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


def _nodes(conn: Connection, params: dict[str, Any], ids: Sequence[str] | None) -> list[Node]:
    sql = _NODES_ALL if ids is None else _NODES_SOME
    return [
        Node(
            entity_id=row.entity_id,
            name=row.name,
            kind=row.kind,
            valuation_usd=row.valuation_usd,
            revenue=_revenue(row, "revenue_") if row.has_revenue else None,
        )
        for row in conn.exec_driver_sql(sql, params | {"ids": list(ids or ())})
    ]


# -- edges --------------------------------------------------------------------------------------

# The current leg set of every live deal: the last visible announcement or amendment of a deal
# whose last visible announcement-or-termination is an announcement.
_LIVE_LEGS_ALL = f"""
WITH deal_events AS (
    SELECT * FROM rm_deal_events d WHERE {_visible("d")}
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
           AND {_visible("d")}
         ORDER BY d.effective_at DESC, d.position DESC LIMIT 1
       ) v
 CROSS JOIN LATERAL (
        SELECT d.event_id FROM rm_deal_events d
         WHERE d.deal_id = c.deal_id AND d.type IN ('DealAnnounced', 'DealAmended')
           AND {_visible("d")}
         ORDER BY d.effective_at DESC, d.position DESC LIMIT 1
       ) s
  JOIN rm_deal_legs l ON l.event_id = s.event_id
 WHERE v.type = 'DealAnnounced'
   AND (l.payer = ANY(%(ids)s) OR l.payee = ANY(%(ids)s))
"""

_EDGES = """
WITH legs AS ({legs})
SELECT legs.*, coalesce(f.funded_usd, 0) AS funded_usd
  FROM legs
  LEFT JOIN LATERAL (
        SELECT sum(t.amount_usd) AS funded_usd FROM rm_tranches t
         WHERE t.deal_id = legs.deal_id AND t.leg = legs.leg AND {visible_t}
       ) f ON true
 ORDER BY legs.deal_id, legs.leg
"""
# For every leg, one aggregate over the tranches beats a lookup per leg.
_EDGES_ALL = f"""
WITH legs AS ({_LIVE_LEGS_ALL}), funded AS (
    SELECT t.deal_id, t.leg, sum(t.amount_usd) AS funded_usd
      FROM rm_tranches t WHERE {_visible("t")}
     GROUP BY t.deal_id, t.leg
)
SELECT legs.*, coalesce(f.funded_usd, 0) AS funded_usd
  FROM legs LEFT JOIN funded f ON f.deal_id = legs.deal_id AND f.leg = legs.leg
 ORDER BY legs.deal_id, legs.leg
"""
_EDGES_TOUCHING = _EDGES.format(legs=_LIVE_LEGS_TOUCHING, visible_t=_visible("t"))


def _leg(row: Any) -> Leg:
    return Leg(
        leg=row.leg,
        payer=row.payer,
        payee=row.payee,
        instrument=row.instrument,
        headline_usd=row.headline_usd,
        committed_usd=row.committed_usd,
        funded_usd=row.funded_usd,
        capacity_gw=row.capacity_gw,
        shares=row.shares,
        term_start=row.term_start,
        term_end=row.term_end,
    )


def _edges(
    conn: Connection, params: dict[str, Any], basis: str, touching: Sequence[str] | None
) -> list[Edge]:
    if touching is None:
        result = conn.exec_driver_sql(_EDGES_ALL, params)
    else:
        result = conn.exec_driver_sql(_EDGES_TOUCHING, params | {"ids": list(touching)})
    # Positional access on plain tuples: a whole graph is a hundred thousand rows or more.
    at = {name: i for i, name in enumerate(result.keys())}
    deal, leg, payer, payee, instrument = (
        at[k] for k in ("deal_id", "leg", "payer", "payee", "instrument")
    )
    headline, committed, funded = at["headline_usd"], at["committed_usd"], at["funded_usd"]
    gw, shares = at["capacity_gw"], at["shares"]
    zero = Decimal(0)

    def amount(row: tuple) -> Decimal:
        if basis == "HEADLINE":
            value = row[headline] if row[headline] is not None else row[committed]
        elif basis == "COMMITTED":
            value = row[committed]
        else:
            value = row[funded]
        return value if value is not None else zero

    return [
        Edge(
            row[deal],
            row[leg],
            row[payer],
            row[payee],
            row[instrument],
            amount(row),
            row[gw],
            row[shares],
        )
        for row in result.fetchall()
    ]


# Every answer share-locks the read-model tables first, in the order a rebuild's swap takes
# them, so a query and a swap can never each hold a table the other waits for.
_LOCK_READ_MODELS = "LOCK TABLE {} IN ACCESS SHARE MODE".format(", ".join(projection.TABLES))


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with one snapshot, so every statement of an answer sees the
    read models at the same instant (the projector may commit in between)."""
    with engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    ) as conn:
        conn.exec_driver_sql(_LOCK_READ_MODELS)
        yield conn


def _params(as_of: dt.datetime, known_at: dt.datetime) -> dict[str, Any]:
    for name, value in (("as_of", as_of), ("known_at", known_at)):
        if value.tzinfo is None:
            raise ValidationError(name, "must be timezone-aware")
    return {"as_of": as_of, "known_at": known_at}


# Beyond this many entities to expand, one scan of every live leg beats index lookups for
# each: in a dense web two or three hops from a hub reach most of it anyway.
_EXPAND_BY_INDEX_UP_TO = 500


def _around(
    conn: Connection,
    params: dict[str, Any],
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
            everything = _edges(conn, params, basis, None)
        if everything is not None:
            wanted = set(fresh)
            step = [e for e in everything if e.payer in wanted or e.payee in wanted]
        else:
            step = _edges(conn, params, basis, fresh)
        frontier = []
        for edge in step:
            if (edge.deal_id, edge.leg) not in found:
                found[(edge.deal_id, edge.leg)] = edge
                frontier.extend((edge.payer, edge.payee))
    return list(found.values())


# -- the exposure graph -------------------------------------------------------------------------


def graph(
    engine: Engine,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
    *,
    entity_ids: Sequence[str] | None = None,
    hops: int = 1,
    min_amount: Decimal | None = None,
) -> Graph:
    """The exposure graph at valid time ``as_of`` as the ledger knew it at ``known_at``.

    With ``entity_ids``: only the live legs within ``hops`` legs of those entities, and the
    nodes they join. With ``min_amount``: only edges of at least that amount.
    """
    check_basis(basis)
    params = _params(as_of, known_at)
    result = Graph(as_of=as_of, known_at=known_at, basis=basis)
    with _reading(engine) as conn:
        if entity_ids is None:
            edges = _edges(conn, params, basis, None)
        else:
            edges = _around(conn, params, basis, entity_ids, hops)
            edges.sort(key=lambda e: (e.deal_id, e.leg))
        if min_amount is not None:
            edges = [e for e in edges if e.amount_usd >= min_amount]
        result.edges = edges
        wanted = None
        if entity_ids is not None:
            wanted = sorted(set(entity_ids) | {e.payer for e in edges} | {e.payee for e in edges})
        for node in _nodes(conn, params, wanted):
            result.nodes[node.entity_id] = node
    return result


# -- one entity ---------------------------------------------------------------------------------

_VALUATIONS = f"""
SELECT * FROM rm_valuations v
 WHERE v.entity_id = ANY(%(ids)s) AND {_visible("v")}
 ORDER BY v.entity_id, v.effective_at, v.position
"""
_REVENUES = f"""
SELECT * FROM rm_revenues r
 WHERE r.entity_id = ANY(%(ids)s) AND {_visible("r")}
 ORDER BY r.entity_id, r.period_end, r.effective_at, r.position
"""


def _valuations(
    conn: Connection, params: dict[str, Any], ids: Sequence[str]
) -> dict[str, list[Valuation]]:
    out: dict[str, list[Valuation]] = {i: [] for i in ids}
    for row in conn.exec_driver_sql(_VALUATIONS, params | {"ids": list(ids)}):
        out[row.entity_id].append(
            Valuation(
                entity_id=row.entity_id,
                valuation_usd=row.valuation_usd,
                basis=row.basis,
                round_size_usd=row.round_size_usd,
                effective_at=row.effective_at,
                position=row.position,
            )
        )
    return out


def _revenue_reports(
    conn: Connection, params: dict[str, Any], ids: Sequence[str]
) -> dict[str, list[RevenueReport]]:
    out: dict[str, list[RevenueReport]] = {i: [] for i in ids}
    for row in conn.exec_driver_sql(_REVENUES, params | {"ids": list(ids)}):
        out[row.entity_id].append(_revenue(row))
    return out


def entity(
    engine: Engine,
    entity_id: str,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> EntityView | None:
    """An entity's node, valuation history, revenue reports and live legs; None if it is not
    registered at (as_of, known_at)."""
    views = entity_views(engine, [entity_id], as_of, known_at, basis)
    return views.get(entity_id)


def entity_views(
    engine: Engine,
    entity_ids: Sequence[str],
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> dict[str, EntityView]:
    """``entity`` for many entities in four queries however many they are (for the API's
    batch loaders); entities not registered at (as_of, known_at) are left out."""
    check_basis(basis)
    params = _params(as_of, known_at)
    ids = list(dict.fromkeys(entity_ids))
    with _reading(engine) as conn:
        nodes = {n.entity_id: n for n in _nodes(conn, params, ids)}
        if not nodes:
            return {}
        found = sorted(nodes)
        valuations = _valuations(conn, params, found)
        reports = _revenue_reports(conn, params, found)
        edges = _edges(conn, params, basis, found)
    return {
        entity_id: EntityView(
            node=nodes[entity_id],
            valuations=valuations[entity_id],
            revenue_reports=reports[entity_id],
            edges=[e for e in edges if entity_id in (e.payer, e.payee)],
        )
        for entity_id in found
    }


def entities(
    engine: Engine, entity_ids: Sequence[str], as_of: dt.datetime, known_at: dt.datetime
) -> dict[str, Node]:
    """The nodes of several entities in one query (for the API's batch loaders)."""
    with _reading(engine) as conn:
        return {n.entity_id: n for n in _nodes(conn, _params(as_of, known_at), entity_ids)}


# -- deals --------------------------------------------------------------------------------------

_DEALS = """
WITH deal_events AS (
    SELECT * FROM rm_deal_events d WHERE {visible_d} {restrict}
), announced AS (
    SELECT DISTINCT ON (deal_id) deal_id, title, conditions, effective_at
      FROM deal_events WHERE type = 'DealAnnounced'
     ORDER BY deal_id, effective_at DESC, position DESC
), liveness AS (
    SELECT DISTINCT ON (deal_id) deal_id, type, effective_at
      FROM deal_events WHERE type IN ('DealAnnounced', 'DealTerminated')
     ORDER BY deal_id, effective_at DESC, position DESC
), leg_sets AS (
    SELECT DISTINCT ON (deal_id) deal_id, event_id
      FROM deal_events WHERE type IN ('DealAnnounced', 'DealAmended')
     ORDER BY deal_id, effective_at DESC, position DESC
)
SELECT a.deal_id, a.title, a.conditions, a.effective_at AS announced_at,
       v.type = 'DealTerminated' AS terminated, v.effective_at AS status_at,
       s.event_id AS legs_event_id
  FROM announced a
  JOIN liveness v USING (deal_id)
  JOIN leg_sets s USING (deal_id)
 WHERE true {filters}
 ORDER BY a.deal_id
 LIMIT %(limit)s
"""

_DEAL_LEGS = """
SELECT l.*, coalesce(f.funded_usd, 0) AS funded_usd
  FROM rm_deal_legs l
  LEFT JOIN LATERAL (
        SELECT sum(t.amount_usd) AS funded_usd FROM rm_tranches t
         WHERE t.deal_id = l.deal_id AND t.leg = l.leg AND {visible_t}
       ) f ON true
 WHERE l.event_id = ANY(%(events)s)
 ORDER BY l.deal_id, l.leg
""".format(visible_t=_visible("t"))


def deals(
    engine: Engine,
    as_of: dt.datetime,
    known_at: dt.datetime,
    *,
    entity_id: str | None = None,
    instrument: str | None = None,
    status: str | None = None,
    deal_ids: Sequence[str] | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page:
    """Deals announced by ``as_of``, by deal id, a page at a time (``after``: the last deal id
    of the previous page). ``entity_id`` and ``instrument`` match any leg of the current set;
    ``status`` is LIVE or TERMINATED."""
    if not 1 <= first <= MAX_PAGE:
        raise ValidationError("first", f"must be between 1 and {MAX_PAGE}, got {first}")
    if status is not None and status not in DEAL_STATUSES:
        raise ValidationError(
            "status", f"must be one of {', '.join(DEAL_STATUSES)}, got {status!r}"
        )
    params = _params(as_of, known_at) | {
        "limit": first + 1,
        "after": after,
        "entity": entity_id,
        "instrument": instrument,
        "ids": list(deal_ids or ()),
    }
    restrict = []
    if after is not None:
        restrict.append("AND d.deal_id > %(after)s")
    if deal_ids is not None:
        restrict.append("AND d.deal_id = ANY(%(ids)s)")
    if entity_id is not None:
        restrict.append(
            "AND d.deal_id IN (SELECT deal_id FROM rm_deal_legs WHERE payer = %(entity)s "
            "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = %(entity)s)"
        )
    filters = []
    if status is not None:
        filters.append(
            "AND v.type = " + ("'DealTerminated'" if status == "TERMINATED" else "'DealAnnounced'")
        )
    leg_match = []
    if entity_id is not None:
        leg_match.append("(l.payer = %(entity)s OR l.payee = %(entity)s)")
    if instrument is not None:
        leg_match.append("l.instrument = %(instrument)s")
    if leg_match:
        filters.append(
            "AND EXISTS (SELECT FROM rm_deal_legs l WHERE l.event_id = s.event_id AND "
            + " AND ".join(leg_match)
            + ")"
        )
    sql = _DEALS.format(
        visible_d=_visible("d"), restrict=" ".join(restrict), filters=" ".join(filters)
    )
    with _reading(engine) as conn:
        rows = list(conn.exec_driver_sql(sql, params))
        has_next = len(rows) > first
        rows = rows[:first]
        legs: dict[Any, list[Leg]] = defaultdict(list)
        if rows:
            for row in conn.exec_driver_sql(
                _DEAL_LEGS, params | {"events": [r.legs_event_id for r in rows]}
            ):
                legs[row.event_id].append(_leg(row))
    items = [
        DealView(
            deal_id=row.deal_id,
            title=row.title,
            status="TERMINATED" if row.terminated else "LIVE",
            announced_at=row.announced_at,
            conditions=row.conditions,
            legs=tuple(legs[row.legs_event_id]),
            terminated_at=row.status_at if row.terminated else None,
        )
        for row in rows
    ]
    return Page(items=items, has_next=has_next)


def deal(
    engine: Engine, deal_id: str, as_of: dt.datetime, known_at: dt.datetime
) -> DealView | None:
    page = deals(engine, as_of, known_at, deal_ids=[deal_id], first=1)
    return page.items[0] if page.items else None


def history(store: EventStore, stream: str, known_at: dt.datetime) -> list[RecordedEvent]:
    """A stream's events as recorded by ``known_at`` (retractions included), by position: the
    audit trail behind a deal or an entity."""
    return [e for e in store.read_stream(stream) if e.recorded_at <= known_at]


def span(engine: Engine) -> Span | None:
    """The valid time of everything projected (None for an empty ledger): one row the
    projection keeps, however long the history."""
    with _reading(engine) as conn:
        row = conn.exec_driver_sql(
            "SELECT first_effective_at, first_activity_at, last_effective_at FROM rm_span"
        ).first()
    return Span(*row) if row else None


# -- series -------------------------------------------------------------------------------------


def series(
    engine: Engine,
    store: EventStore,
    entity_id: str,
    metric: str,
    at: list[dt.datetime],
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> list[series_fold.Point]:
    """``metric`` of an entity at each as_of of ``at``, in one pass over the streams that can
    matter: the entity's and those of the deals it was ever party to (every deal, for the
    circular amount, since a cycle may pass through deals the entity is not in)."""
    if metric == "CIRCULAR_AMOUNT":
        streams = None
    else:
        with _reading(engine) as conn:
            deal_ids = conn.exec_driver_sql(
                "SELECT deal_id FROM rm_deal_legs WHERE payer = %(e)s "
                "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = %(e)s",
                {"e": entity_id},
            ).scalars()
            streams = [f"entity/{entity_id}", *(f"deal/{d}" for d in deal_ids)]
    events = store.read_streams(streams, recorded_by=known_at)
    return series_fold.series(events, entity_id, metric, sorted(at), known_at, basis)


# -- measures over the whole graph --------------------------------------------------------------


def circular_flows(
    engine: Engine,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
    *,
    min_amount: Decimal = Decimal(0),
    through: str | None = None,
    limit: int | None = None,
) -> list[analysis.Cycle]:
    """The money-flow cycles of at most six entities at (as_of, known_at), largest first."""
    if through is not None:
        # Every leg of a cycle of six or fewer entities through an entity touches an entity
        # at most two legs away from it: three rounds of "legs touching" reach them all.
        edges = graph(
            engine, as_of, known_at, basis, entity_ids=[through], hops=3, min_amount=min_amount
        ).edges
    else:
        edges = graph(engine, as_of, known_at, basis, min_amount=min_amount).edges
    return analysis.circular_flows(edges, min_amount=min_amount, through=through, limit=limit)


def stress_test(
    engine: Engine,
    defaulted: Sequence[str],
    recovery_rate: Decimal,
    threshold: Decimal,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> analysis.StressResult:
    """Default ``defaulted`` and follow the losses round by round (spec section 3)."""
    g = graph(engine, as_of, known_at, basis)
    unknown = sorted(set(defaulted) - set(g.nodes))
    if unknown:
        raise NotFound(f"defaulted: no entity {', '.join(unknown)} at this as_of / known_at")
    valuations = {entity_id: node.valuation_usd for entity_id, node in g.nodes.items()}
    return analysis.stress_test(g.edges, valuations, defaulted, recovery_rate, threshold)


def deals_of(
    engine: Engine, entity_ids: Sequence[str], as_of: dt.datetime, known_at: dt.datetime
) -> dict[str, list[DealView]]:
    """The deals (announced by as_of) whose current legs involve each entity, by deal id, for
    many entities at once (the API's batch loader)."""
    ids = list(dict.fromkeys(entity_ids))
    with _reading(engine) as conn:
        touching = list(
            conn.exec_driver_sql(
                "SELECT deal_id FROM rm_deal_legs WHERE payer = ANY(%(ids)s) "
                "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = ANY(%(ids)s) "
                "ORDER BY 1",
                {"ids": ids},
            ).scalars()
        )
    views: list[DealView] = []
    for start in range(0, len(touching), MAX_PAGE):
        chunk = touching[start : start + MAX_PAGE]
        views.extend(deals(engine, as_of, known_at, deal_ids=chunk, first=MAX_PAGE).items)
    out: dict[str, list[DealView]] = {i: [] for i in ids}
    for view in views:
        parties = {leg.payer for leg in view.legs} | {leg.payee for leg in view.legs}
        for entity_id in parties & set(ids):
            out[entity_id].append(view)
    return out


@dataclass(frozen=True, slots=True)
class Horizon:
    """What makes an answer final: every answer whose every ``knownAt`` is earlier than
    ``settled_before`` can never change (see ``horizon``); ``genesis`` names the ledger."""

    genesis: str
    settled_before: dt.datetime


def horizon(engine: Engine) -> Horizon | None:
    """The knowledge time before which the read models' answers are final, or None if none is.

    ``recorded_at`` never decreases along the log (the chain-check trigger refuses it), so an
    event not yet recorded -- or recorded but not yet projected -- will carry a ``recorded_at``
    at or after that of the last projected event. Answers asked with ``knownAt`` strictly
    before it are therefore complete and fixed: what HTTP caching of the past relies on.
    """
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT (SELECT hash FROM events WHERE position = 1), e.recorded_at "
            "FROM projection_checkpoints c JOIN events e ON e.position = c.position "
            "WHERE c.name = %(name)s",
            {"name": projection.NAME},
        ).first()
    return Horizon(row[0], row[1]) if row else None
