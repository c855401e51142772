"""Questions to the read models at (as_of, known_at), answered by indexed queries, not replay.

The answers have the shapes of ``ledger.domain.replay`` (``Graph``, ``Node``, ``Edge``), so
the replay oracle and these queries can be compared field by field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from ..domain.money import format_usd
from ..domain.replay import BASES, Edge, Graph, Node

# A row is visible at (T, K) when it is effective by T, recorded by K and not retracted by K.
_VISIBLE = (
    "{t}.effective_at <= %(as_of)s AND {t}.recorded_at <= %(known_at)s "
    "AND ({t}.retracted_at IS NULL OR {t}.retracted_at > %(known_at)s)"
)


def _visible(alias: str) -> str:
    return _VISIBLE.format(t=alias)


_NODES = f"""
WITH names AS (
    SELECT DISTINCT ON (entity_id) entity_id, name
      FROM rm_entities e WHERE {_visible("e")}
     ORDER BY entity_id, effective_at DESC, position DESC
), registered AS (
    SELECT DISTINCT ON (entity_id) entity_id, kind
      FROM rm_entities e WHERE e.type = 'EntityRegistered' AND {_visible("e")}
     ORDER BY entity_id, effective_at DESC, position DESC
), valuations AS (
    SELECT DISTINCT ON (entity_id) entity_id, valuation_usd
      FROM rm_valuations v WHERE {_visible("v")}
     ORDER BY entity_id, effective_at DESC, position DESC
), revenues AS (
    SELECT DISTINCT ON (entity_id) *
      FROM rm_revenues r
     WHERE {_visible("r")} AND NOT r.forecast
       AND r.period_end <= (%(as_of)s AT TIME ZONE 'UTC')::date
     ORDER BY entity_id, period_end DESC, effective_at DESC, position DESC
)
SELECT r.entity_id, n.name, r.kind, v.valuation_usd,
       rv.period_start, rv.period_end, rv.revenue_usd, rv.net_income_usd, rv.cash_burn_usd,
       rv.rnd_usd, rv.cash_usd, rv.forecast, rv.entity_id IS NOT NULL AS has_revenue
  FROM registered r
  JOIN names n USING (entity_id)
  LEFT JOIN valuations v USING (entity_id)
  LEFT JOIN revenues rv USING (entity_id)
 ORDER BY r.entity_id
"""

_EDGES = f"""
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
), funded AS (
    SELECT deal_id, leg, sum(amount_usd) AS amount_usd
      FROM rm_tranches t WHERE {_visible("t")}
     GROUP BY deal_id, leg
)
SELECT l.deal_id, l.leg, l.payer, l.payee, l.instrument, l.headline_usd, l.committed_usd,
       l.capacity_gw, l.shares, coalesce(f.amount_usd, 0) AS funded_usd
  FROM liveness v
  JOIN leg_sets s USING (deal_id)
  JOIN rm_deal_legs l ON l.event_id = s.event_id
  LEFT JOIN funded f ON f.deal_id = l.deal_id AND f.leg = l.leg
 WHERE v.type = 'DealAnnounced'
 ORDER BY l.deal_id, l.leg
"""


def _amount(row: Any, basis: str) -> Decimal:
    if basis == "HEADLINE":
        value = row.headline_usd if row.headline_usd is not None else row.committed_usd
        return value if value is not None else Decimal(0)
    if basis == "COMMITTED":
        return row.committed_usd if row.committed_usd is not None else Decimal(0)
    return row.funded_usd


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_usd(value)


def graph(
    engine: Engine, as_of: dt.datetime, known_at: dt.datetime, basis: str = "HEADLINE"
) -> Graph:
    """The exposure graph at valid time ``as_of`` as the ledger knew it at ``known_at``."""
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    params = {"as_of": as_of, "known_at": known_at}
    result = Graph(as_of=as_of, known_at=known_at, basis=basis)
    with engine.connect() as conn:
        for row in conn.exec_driver_sql(_NODES, params):
            revenue = None
            if row.has_revenue:
                revenue = {
                    "entity_id": row.entity_id,
                    "period_start": row.period_start.isoformat(),
                    "period_end": row.period_end.isoformat(),
                    "revenue_usd": _text(row.revenue_usd),
                    "forecast": row.forecast,
                }
                for key in ("net_income_usd", "cash_burn_usd", "rnd_usd", "cash_usd"):
                    if getattr(row, key) is not None:
                        revenue[key] = _text(getattr(row, key))
            result.nodes[row.entity_id] = Node(
                entity_id=row.entity_id,
                name=row.name,
                kind=row.kind,
                valuation_usd=row.valuation_usd,
                revenue=revenue,
            )
        for row in conn.exec_driver_sql(_EDGES, params):
            result.edges.append(
                Edge(
                    deal_id=row.deal_id,
                    leg=row.leg,
                    payer=row.payer,
                    payee=row.payee,
                    instrument=row.instrument,
                    amount_usd=_amount(row, basis),
                    capacity_gw=row.capacity_gw,
                    shares=row.shares,
                )
            )
    return result
