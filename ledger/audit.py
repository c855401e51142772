"""``ledger replay``: the auditor's answer, recomputed from the raw log alone.

The replay streams the events from position 1 (in batches; since ``recorded_at`` never
decreases along the log, it stops at the first event recorded after ``known_at``) and keeps
only what can matter at (as_of, known_at): events effective by ``as_of``, and every
retraction. Then it folds them with the replay oracle (``ledger.domain.replay``), the spec's
definition written as plainly as possible, sharing no SQL, index or table with the read models.
``verify`` asks the live read models the same question and compares field by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from . import queries
from .domain import replay as oracle
from .domain.compare import differences
from .domain.views import Graph
from .store.event_store import EventStore


@dataclass
class Replay:
    graph: Graph
    events_read: int  # from position 1
    events_kept: int  # visible at (as_of, known_at), retractions included
    until_position: int


def replay(
    store: EventStore,
    as_of: dt.datetime,
    known_at: dt.datetime,
    basis: str = "HEADLINE",
    *,
    until_position: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Replay:
    kept = []
    read = last = 0
    for event in store.iter_events(until=until_position):
        if event.recorded_at > known_at:
            break  # and so is every later one
        read += 1
        last = event.position
        if event.effective_at <= as_of or event.type == "EventRetracted":
            kept.append(event)
        if on_progress is not None and read % 5000 == 0:
            on_progress(read)
    return Replay(oracle.graph(kept, as_of, known_at, basis), read, len(kept), last)


def verify(
    engine: Engine, replayed: Replay, basis: str = "HEADLINE", at_position: int | None = None
) -> list[str]:
    """The differences between the replay and the read models asked the same question: at its
    (as_of, known_at), and with ``at_position`` (a replay ``--until-position``) at that prefix of
    the log -- both bounds, as ``atPosition`` with ``knownAt`` in the API."""
    live = queries.graph(
        engine, replayed.graph.as_of, replayed.graph.known_at, basis, at_position=at_position
    )
    return differences(replayed.graph, live)
