"""A metric of one entity over time, folded from the raw events, not read from the read models.

Why the exception to "queries read projections": a series asks the same question at many
valid times, and one pass over the streams that can matter answers them all, where the read
models would need one graph per point. Only the choice of streams (the deals an entity was
ever party to) comes from a read model.
"""

from __future__ import annotations

import datetime as dt

from ..domain import series as series_fold
from ..store import EventStore
from ._fresh import EPOCH
from ._snapshot import Source, params, reading


def series(
    source: Source,
    store: EventStore,
    entity_id: str,
    metric: str,
    at: list[dt.datetime],
    known_at: dt.datetime | None,
    basis: str = "HEADLINE",
    *,
    at_position: int | None = None,
    at_least: int | None = None,
) -> list[series_fold.Point]:
    """``metric`` of an entity at each as_of of ``at``, in one pass over the streams that can
    matter: the entity's and those of the deals it was ever party to (every deal, for the
    circular amount, since a cycle may pass through deals the entity is not in)."""
    point = params(at[0] if at else EPOCH, known_at, at_position, at_least)
    streams: list[str] | None = None
    with reading(source, point) as conn:
        if metric != "CIRCULAR_AMOUNT":
            deal_ids = conn.exec_driver_sql(
                "SELECT deal_id FROM rm_deal_legs WHERE payer = %(e)s "
                "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = %(e)s",
                {"e": entity_id},
            ).scalars()
            streams = [f"entity/{entity_id}", *(f"deal/{d}" for d in deal_ids)]
    # The raw events of the same prefix of the log the read models were read at.
    known = point["known_at"]
    events = store.read_streams(streams, recorded_by=known, upto_position=point["position"])
    return series_fold.series(events, entity_id, metric, sorted(at), known, basis)
