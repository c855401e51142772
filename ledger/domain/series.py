"""A metric of one entity over a range of as_of dates, in one pass over its events.

Why one pass: a chart of 24 months must not cost 24 questions. The events that can matter
(the entity's stream and its deals' streams, as known at ``known_at``, retractions applied)
are folded once in ``(effective_at, position)`` order, and the metric is read off the folds
each time the sweep passes a point.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from . import analysis
from .aggregates import fold_order, live_events
from .errors import ValidationError
from .replay import DealFold, EntityFold
from .views import check_basis

METRICS = ("VALUATION", "EXPOSURE_IN", "EXPOSURE_OUT", "COMMITMENT_RATIO", "CIRCULAR_AMOUNT")
INTERVALS = ("DAY", "WEEK", "MONTH", "QUARTER", "YEAR")
MAX_POINTS = 1000

Point = tuple[dt.datetime, Decimal | None]


def _add_months(t: dt.datetime, months: int, day: int) -> dt.datetime:
    month0 = t.month - 1 + months
    year, month = t.year + month0 // 12, month0 % 12 + 1
    return t.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))


def points(start: dt.datetime, end: dt.datetime, interval: str) -> list[dt.datetime]:
    """``start``, then a step at a time up to ``end`` inclusive; months keep the start's day
    of the month (clipped to the month's length)."""
    if interval not in INTERVALS:
        raise ValidationError(
            "interval", f"must be one of {', '.join(INTERVALS)}, got {interval!r}"
        )
    if end < start:
        raise ValidationError("to", "must not be before from: the series ends before it starts")
    out: list[dt.datetime] = []
    step = 0
    while True:
        try:
            if interval == "DAY":
                t = start + dt.timedelta(days=step)
            elif interval == "WEEK":
                t = start + dt.timedelta(weeks=step)
            else:
                months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[interval] * step
                t = _add_months(start, months, start.day)
        except (OverflowError, ValueError):  # the next step is past the year 9999
            return out
        if t > end:
            return out
        out.append(t)
        if len(out) > MAX_POINTS:
            raise ValidationError(
                "interval", f"must be longer: a series has at most {MAX_POINTS} points"
            )
        step += 1


def series(
    events: Iterable[Any],
    entity_id: str,
    metric: str,
    at: list[dt.datetime],
    known_at: dt.datetime,
    basis: str = "HEADLINE",
) -> list[Point]:
    """``metric`` of ``entity_id`` at each as_of in ``at`` (ascending), as known at
    ``known_at``; None where the entity is not registered yet or the metric is undefined."""
    if metric not in METRICS:
        raise ValidationError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    check_basis(basis)
    ordered = fold_order(live_events(e for e in events if e.recorded_at <= known_at))
    entity = EntityFold()
    deals: dict[str, DealFold] = {}
    out: list[Point] = []
    i = 0
    for as_of in at:
        while i < len(ordered) and ordered[i].effective_at <= as_of:
            e = ordered[i]
            if e.stream == f"entity/{entity_id}":
                entity.apply(e)
            elif e.stream.startswith("deal/"):
                deals.setdefault(e.stream, DealFold()).apply(e)
            i += 1
        out.append((as_of, _measure(entity, deals, entity_id, metric, as_of, basis)))
    return out


def _measure(
    entity: EntityFold,
    deals: dict[str, DealFold],
    entity_id: str,
    metric: str,
    as_of: dt.datetime,
    basis: str,
) -> Decimal | None:
    node = entity.node(as_of)
    if node is None:
        return None
    if metric == "VALUATION":
        return node.valuation_usd
    edges = [
        edge
        for fold in deals.values()
        if (view := fold.view()) is not None
        for edge in view.edges(basis)
    ]
    if metric == "EXPOSURE_OUT":
        return analysis.entity_exposures(edges, entity_id).total_out
    if metric == "EXPOSURE_IN":
        return analysis.entity_exposures(edges, entity_id).total_in
    if metric == "COMMITMENT_RATIO":
        return analysis.commitment_ratio(edges, entity_id, node.revenue)
    cycles = analysis.circular_flows(edges, through=entity_id)
    return sum((c.amount_usd for c in cycles), Decimal(0))
