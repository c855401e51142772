"""How each event lands in the read models: one row per fact, both time axes kept.

``apply(cursor, events)`` writes a batch of recorded events in position order. It never
deletes: a retraction stamps ``retracted_at`` on the row of the event it retracts, so every
earlier ``known_at`` view stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from ..domain.envelope import RecordedEvent

NAME = "read_models"  # the checkpoint's name

_ENTITY = """
INSERT INTO rm_entities (event_id, entity_id, type, name, kind, effective_at, position,
                         recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_VALUATION = """
INSERT INTO rm_valuations (event_id, entity_id, valuation_usd, basis, round_size_usd,
                           effective_at, position, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_REVENUE = """
INSERT INTO rm_revenues (event_id, entity_id, period_start, period_end, revenue_usd,
                         net_income_usd, cash_burn_usd, rnd_usd, cash_usd, forecast,
                         effective_at, position, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_DEAL_EVENT = """
INSERT INTO rm_deal_events (event_id, deal_id, type, title, effective_at, position, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_LEG = """
INSERT INTO rm_deal_legs (event_id, leg, deal_id, payer, payee, instrument, headline_usd,
                          committed_usd, capacity_gw, shares, term_start, term_end)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_TRANCHE = """
INSERT INTO rm_tranches (event_id, deal_id, leg, amount_usd, effective_at, position,
                         recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_RETRACTED_TABLES = ("rm_entities", "rm_valuations", "rm_revenues", "rm_deal_events", "rm_tranches")


def _times(e: RecordedEvent) -> tuple[Any, ...]:
    return (e.effective_at, e.position, e.recorded_at)


def apply(cur: psycopg.Cursor[Any], events: Iterable[RecordedEvent]) -> None:
    """Write ``events`` (in position order) into the read models, in the caller's transaction."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        k: [] for k in (_ENTITY, _VALUATION, _REVENUE, _DEAL_EVENT, _LEG, _TRANCHE)
    }
    for e in events:
        d = e.data
        if e.type in ("EntityRegistered", "EntityRenamed"):
            rows[_ENTITY].append(
                (e.event_id, d["entity_id"], e.type, d["name"], d.get("kind"), *_times(e))
            )
        elif e.type == "ValuationReported":
            rows[_VALUATION].append(
                (
                    e.event_id,
                    d["entity_id"],
                    d["valuation_usd"],
                    d["basis"],
                    d.get("round_size_usd"),
                    *_times(e),
                )
            )
        elif e.type == "RevenueReported":
            rows[_REVENUE].append(
                (
                    e.event_id,
                    d["entity_id"],
                    d["period_start"],
                    d["period_end"],
                    d["revenue_usd"],
                    d.get("net_income_usd"),
                    d.get("cash_burn_usd"),
                    d.get("rnd_usd"),
                    d.get("cash_usd"),
                    d["forecast"],
                    *_times(e),
                )
            )
        elif e.type in ("DealAnnounced", "DealAmended", "DealTerminated"):
            rows[_DEAL_EVENT].append((e.event_id, d["deal_id"], e.type, d.get("title"), *_times(e)))
            for leg in d.get("legs", ()):
                rows[_LEG].append(
                    (
                        e.event_id,
                        leg["leg"],
                        d["deal_id"],
                        leg["payer"],
                        leg["payee"],
                        leg["instrument"],
                        leg.get("headline_usd"),
                        leg.get("committed_usd"),
                        leg.get("capacity_gw"),
                        leg.get("shares"),
                        leg.get("term_start"),
                        leg.get("term_end"),
                    )
                )
        elif e.type == "TrancheFunded":
            rows[_TRANCHE].append((e.event_id, d["deal_id"], d["leg"], d["amount_usd"], *_times(e)))
        elif e.type == "EventRetracted":
            _flush(cur, rows)  # the target may be in this very batch
            for table in _RETRACTED_TABLES:
                cur.execute(
                    # The first retraction counts; the domain refuses a second one anyway.
                    f"UPDATE {table} SET retracted_at = %s "
                    "WHERE event_id = %s AND retracted_at IS NULL",
                    (e.recorded_at, d["target_event_id"]),
                )
    _flush(cur, rows)


def _flush(cur: psycopg.Cursor[Any], rows: dict[str, list[tuple[Any, ...]]]) -> None:
    for sql, batch in rows.items():
        if batch:
            cur.executemany(sql, batch)
            batch.clear()
