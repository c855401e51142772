"""How events land in the read models: one row per fact, both time axes kept, set-based.

``apply(cur, after, upto)`` projects the events at positions ``after < position <= upto``
with one INSERT ... SELECT per read-model table, straight from the events table, in the
caller's transaction. The same statements serve the projector that tails the log (a few
events at a time) and the rebuild (hundreds of thousands at a time): one implementation,
and the server does the work without shipping the events to Python and back.

Nothing is ever deleted: a retraction stamps ``retracted_at`` and ``retracted_position`` (the
retraction's ``recorded_at`` and ``position``) on the row of the event it retracts, so every earlier ``known_at`` view
stays exactly as it was. Retractions run after the inserts, since their target may lie in
the same range.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..store import tree

NAME = "read_models"  # the checkpoint's name

# Unqualified names: the rebuild points search_path at a schema of fresh tables.
TABLES = (
    "projection_checkpoints",
    "rm_entities",
    "rm_valuations",
    "rm_revenues",
    "rm_deal_events",
    "rm_deal_legs",
    "rm_tranches",
    "rm_span",
    "merkle_nodes",
)
# Tables the projection upserts into: a rebuild's bare tables keep their keys (ON CONFLICT),
# and the tree, which reads its peaks back as it grows.
KEYED = ("projection_checkpoints", "rm_span", "merkle_nodes")
_RETRACTABLE = ("rm_entities", "rm_valuations", "rm_revenues", "rm_deal_events", "rm_tranches")

_RANGE = "e.position > %(after)s AND e.position <= %(upto)s"
_TIMES = "e.effective_at, e.position, e.recorded_at"

_INSERTS = (
    f"""
INSERT INTO rm_entities (event_id, entity_id, type, name, kind, effective_at, position,
                         recorded_at)
SELECT e.event_id, e.data ->> 'entity_id', e.type, e.data ->> 'name', e.data ->> 'kind', {_TIMES}
  FROM public.events e
 WHERE {_RANGE} AND e.type IN ('EntityRegistered', 'EntityRenamed')
""",
    f"""
INSERT INTO rm_valuations (event_id, entity_id, valuation_usd, basis, round_size_usd,
                           effective_at, position, recorded_at)
SELECT e.event_id, e.data ->> 'entity_id', (e.data ->> 'valuation_usd')::numeric,
       e.data ->> 'basis', (e.data ->> 'round_size_usd')::numeric, {_TIMES}
  FROM public.events e
 WHERE {_RANGE} AND e.type = 'ValuationReported'
""",
    f"""
INSERT INTO rm_revenues (event_id, entity_id, period_start, period_end, revenue_usd,
                         net_income_usd, cash_burn_usd, rnd_usd, cash_usd, forecast,
                         effective_at, position, recorded_at)
SELECT e.event_id, e.data ->> 'entity_id', (e.data ->> 'period_start')::date,
       (e.data ->> 'period_end')::date, (e.data ->> 'revenue_usd')::numeric,
       (e.data ->> 'net_income_usd')::numeric, (e.data ->> 'cash_burn_usd')::numeric,
       (e.data ->> 'rnd_usd')::numeric, (e.data ->> 'cash_usd')::numeric,
       (e.data ->> 'forecast')::boolean, {_TIMES}
  FROM public.events e
 WHERE {_RANGE} AND e.type = 'RevenueReported'
""",
    f"""
INSERT INTO rm_deal_events (event_id, deal_id, type, title, conditions, reason, effective_at,
                            position, recorded_at)
SELECT e.event_id, e.data ->> 'deal_id', e.type, e.data ->> 'title', e.data ->> 'conditions',
       e.data ->> 'reason', {_TIMES}
  FROM public.events e
 WHERE {_RANGE} AND e.type IN ('DealAnnounced', 'DealAmended', 'DealTerminated')
""",
    f"""
INSERT INTO rm_deal_legs (event_id, leg, deal_id, payer, payee, instrument, headline_usd,
                          committed_usd, capacity_gw, shares, term_start, term_end)
SELECT e.event_id, l.leg ->> 'leg', e.data ->> 'deal_id', l.leg ->> 'payer', l.leg ->> 'payee',
       l.leg ->> 'instrument', (l.leg ->> 'headline_usd')::numeric,
       (l.leg ->> 'committed_usd')::numeric, (l.leg ->> 'capacity_gw')::numeric,
       (l.leg ->> 'shares')::numeric, (l.leg ->> 'term_start')::date,
       (l.leg ->> 'term_end')::date
  FROM public.events e
 CROSS JOIN LATERAL jsonb_array_elements(e.data -> 'legs') AS l(leg)
 WHERE {_RANGE} AND e.type IN ('DealAnnounced', 'DealAmended')
""",
    f"""
INSERT INTO rm_tranches (event_id, deal_id, leg, amount_usd, effective_at, position,
                         recorded_at)
SELECT e.event_id, e.data ->> 'deal_id', e.data ->> 'leg', (e.data ->> 'amount_usd')::numeric,
       {_TIMES}
  FROM public.events e
 WHERE {_RANGE} AND e.type = 'TrancheFunded'
""",
)

# The first retraction of an event counts (the domain refuses a second one anyway).
_RETRACT = f"""
UPDATE {{table}} t SET retracted_at = r.recorded_at, retracted_position = r.position
  FROM (SELECT DISTINCT ON (target) target, recorded_at, position
          FROM (SELECT (e.data ->> 'target_event_id')::uuid AS target, e.recorded_at,
                       e.position
                  FROM public.events e
                 WHERE {_RANGE} AND e.type = 'EventRetracted') AS x
         ORDER BY target, position) AS r
 WHERE t.event_id = r.target AND t.retracted_at IS NULL
"""

# The span of valid time projected so far: one row, widened by each range of events.
_SPAN = f"""
INSERT INTO rm_span (first_effective_at, first_activity_at, last_effective_at)
SELECT min(e.effective_at), min(e.effective_at) FILTER (WHERE e.type <> 'EntityRegistered'),
       max(e.effective_at)
  FROM public.events e
 WHERE {_RANGE}
HAVING count(*) > 0
ON CONFLICT (id) DO UPDATE
   SET first_effective_at = least(rm_span.first_effective_at, excluded.first_effective_at),
       first_activity_at = least(rm_span.first_activity_at, excluded.first_activity_at),
       last_effective_at = greatest(rm_span.last_effective_at, excluded.last_effective_at)
"""

_CHECKPOINT = """
INSERT INTO projection_checkpoints (name, position) VALUES (%(name)s, %(upto)s)
ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = clock_timestamp()
"""


def apply(cur: psycopg.Cursor[Any], after: int, upto: int) -> None:
    """Project the events in ``(after, upto]``, grow the Merkle tree to ``upto``
    (``ledger.store.tree``) and move the checkpoint to ``upto``, in the caller's transaction
    (so all happen or none does)."""
    params = {"after": after, "upto": upto, "name": NAME}
    for sql in _INSERTS:
        cur.execute(sql, params)
    for table in _RETRACTABLE:
        cur.execute(_RETRACT.format(table=table), params)
    cur.execute(_SPAN, params)
    tree.extend(cur, upto)
    cur.execute(_CHECKPOINT, params)


def checkpoint(cur: psycopg.Cursor[Any], *, lock: bool = False) -> int:
    """The last position applied (0 before the first), row-locked when ``lock``."""
    row = cur.execute(
        "SELECT position FROM projection_checkpoints WHERE name = %s"
        + (" FOR UPDATE" if lock else ""),
        (NAME,),
    ).fetchone()
    return row[0] if row else 0
