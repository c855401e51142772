"""Deals at (as_of, known_at): a page at a time with filters, one by id, or those of many
entities at once."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from ..domain.errors import ValidationError
from ..domain.views import DEAL_STATUSES, DealView, Leg, Page
from ._snapshot import Source, params, reading, visible

MAX_PAGE = 500

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
 ORDER BY a.deal_id {direction}
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
""".format(visible_t=visible("t"))


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


def deals(
    source: Source,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    *,
    entity_id: str | None = None,
    instrument: str | None = None,
    status: str | None = None,
    deal_ids: Sequence[str] | None = None,
    first: int = 50,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    at_position: int | None = None,
    at_least: int | None = None,
) -> Page:
    """Deals announced by ``as_of``, by deal id, a page at a time: the ``first`` after the
    deal id ``after``, or (with ``last``) the ``last`` before the deal id ``before``, in deal
    id order either way. ``entity_id`` and ``instrument`` match any leg of the current set;
    ``status`` is LIVE or TERMINATED."""
    if last is not None and not 1 <= last <= MAX_PAGE:
        raise ValidationError("last", f"must be between 1 and {MAX_PAGE}, got {last}")
    if not 1 <= first <= MAX_PAGE:
        raise ValidationError("first", f"must be between 1 and {MAX_PAGE}, got {first}")
    if status is not None and status not in DEAL_STATUSES:
        raise ValidationError(
            "status", f"must be one of {', '.join(DEAL_STATUSES)}, got {status!r}"
        )
    at = params(as_of, known_at, at_position, at_least)
    with reading(source, at) as conn:
        return _page(
            conn,
            at,
            entity_id=entity_id,
            instrument=instrument,
            status=status,
            deal_ids=deal_ids,
            first=first,
            after=after,
            last=last,
            before=before,
        )


def _page(
    conn: Connection,
    at: dict[str, Any],
    *,
    entity_id: str | None = None,
    instrument: str | None = None,
    status: str | None = None,
    deal_ids: Sequence[str] | None = None,
    first: int,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """``deals`` inside a reading transaction, its arguments checked."""
    backward = last is not None
    size = last if last is not None else first
    at = at | {
        "limit": size + 1,
        "after": after,
        "before": before,
        "entity": entity_id,
        "instrument": instrument,
        "ids": list(deal_ids or ()),
    }
    restrict = []
    if after is not None:
        restrict.append("AND d.deal_id > %(after)s")
    if before is not None:
        restrict.append("AND d.deal_id < %(before)s")
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
        visible_d=visible("d"),
        restrict=" ".join(restrict),
        filters=" ".join(filters),
        direction="DESC" if backward else "ASC",
    )
    rows = list(conn.exec_driver_sql(sql, at))
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    legs: dict[Any, list[Leg]] = defaultdict(list)
    if rows:
        for row in conn.exec_driver_sql(
            _DEAL_LEGS, at | {"events": [r.legs_event_id for r in rows]}
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
    # beyond the page in the direction read: known; the other way: the cursor's own item
    has_next = before is not None if backward else more
    has_previous = more if backward else after is not None
    return Page(items=items, has_next=has_next, has_previous=has_previous)


def deal(
    source: Source,
    deal_id: str,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> DealView | None:
    """One deal at (as_of, known_at); None if it is not announced by then."""
    page = deals(
        source,
        as_of,
        known_at,
        deal_ids=[deal_id],
        first=1,
        at_position=at_position,
        at_least=at_least,
    )
    return page.items[0] if page.items else None


def deals_by_id(
    source: Source,
    deal_ids: Sequence[str],
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> dict[str, DealView]:
    """The deals of ``deal_ids`` announced by as_of, by deal id, for many at once (the API's
    batch loader): in one snapshot however many pages."""
    at = params(as_of, known_at, at_position, at_least)
    ids = list(dict.fromkeys(deal_ids))
    found: dict[str, DealView] = {}
    with reading(source, at) as conn:
        for start in range(0, len(ids), MAX_PAGE):
            page = _page(conn, at, deal_ids=ids[start : start + MAX_PAGE], first=MAX_PAGE)
            found.update((d.deal_id, d) for d in page.items)
    return found


def deals_of(
    source: Source,
    entity_ids: Sequence[str],
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> dict[str, list[DealView]]:
    """The deals (announced by as_of) whose current legs involve each entity, by deal id, for
    many entities at once (the API's batch loader): in one snapshot however many pages."""
    ids = list(dict.fromkeys(entity_ids))
    at = params(as_of, known_at, at_position, at_least)
    views: list[DealView] = []
    with reading(source, at) as conn:
        touching = list(
            conn.exec_driver_sql(
                "SELECT deal_id FROM rm_deal_legs WHERE payer = ANY(%(ids)s) "
                "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = ANY(%(ids)s) "
                "ORDER BY 1",
                {"ids": ids},
            ).scalars()
        )
        for start in range(0, len(touching), MAX_PAGE):
            chunk = touching[start : start + MAX_PAGE]
            views.extend(_page(conn, at, deal_ids=chunk, first=MAX_PAGE).items)
    out: dict[str, list[DealView]] = {i: [] for i in ids}
    for view in views:
        parties = {leg.payer for leg in view.legs} | {leg.payee for leg in view.legs}
        for entity_id in parties & set(ids):
            out[entity_id].append(view)
    return out
