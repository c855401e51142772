"""One entity, or many at once, at (as_of, known_at): its node, valuation history, revenue
reports and live legs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from ..domain.views import EntityView, RevenueReport, Valuation, check_basis
from ._snapshot import Source, params, reading, visible
from .graph import edges, nodes, revenue_of

_VALUATIONS = f"""
SELECT * FROM rm_valuations v
 WHERE v.entity_id = ANY(%(ids)s) AND {visible("v")}
 ORDER BY v.entity_id, v.effective_at, v.position
"""
_REVENUES = f"""
SELECT * FROM rm_revenues r
 WHERE r.entity_id = ANY(%(ids)s) AND {visible("r")}
 ORDER BY r.entity_id, r.period_end, r.effective_at, r.position
"""


def _valuations(
    conn: Connection, at: dict[str, Any], ids: Sequence[str]
) -> dict[str, list[Valuation]]:
    out: dict[str, list[Valuation]] = {i: [] for i in ids}
    for row in conn.exec_driver_sql(_VALUATIONS, at | {"ids": list(ids)}):
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
    conn: Connection, at: dict[str, Any], ids: Sequence[str]
) -> dict[str, list[RevenueReport]]:
    out: dict[str, list[RevenueReport]] = {i: [] for i in ids}
    for row in conn.exec_driver_sql(_REVENUES, at | {"ids": list(ids)}):
        out[row.entity_id].append(revenue_of(row))
    return out


def entity(
    source: Source,
    entity_id: str,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> EntityView | None:
    """An entity's node, valuation history, revenue reports and live legs; None if it is not
    registered at (as_of, known_at)."""
    views = entity_views(
        source, [entity_id], as_of, known_at, basis, at_position=at_position, at_least=at_least
    )
    return views.get(entity_id)


def entity_views(
    source: Source,
    entity_ids: Sequence[str],
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> dict[str, EntityView]:
    """``entity`` for many entities in four queries however many they are (for the API's
    batch loaders); entities not registered at (as_of, known_at) are left out."""
    check_basis(basis)
    at = params(as_of, known_at, at_position, at_least)
    ids = list(dict.fromkeys(entity_ids))
    with reading(source, at) as conn:
        found_nodes = {n.entity_id: n for n in nodes(conn, at, ids)}
        if not found_nodes:
            return {}
        found = sorted(found_nodes)
        valuations = _valuations(conn, at, found)
        reports = _revenue_reports(conn, at, found)
        legs = edges(conn, at, basis, found)
    return {
        entity_id: EntityView(
            node=found_nodes[entity_id],
            valuations=valuations[entity_id],
            revenue_reports=reports[entity_id],
            edges=[e for e in legs if entity_id in (e.payer, e.payee)],
        )
        for entity_id in found
    }
