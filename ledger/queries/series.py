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
from ._snapshot import Source, reading


def series(
    source: Source,
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
        with reading(source) as conn:
            deal_ids = conn.exec_driver_sql(
                "SELECT deal_id FROM rm_deal_legs WHERE payer = %(e)s "
                "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = %(e)s",
                {"e": entity_id},
            ).scalars()
            streams = [f"entity/{entity_id}", *(f"deal/{d}" for d in deal_ids)]
    events = store.read_streams(streams, recorded_by=known_at)
    return series_fold.series(events, entity_id, metric, sorted(at), known_at, basis)
