"""``ledger export``: the ledger, or a range of it, as JSON Lines with everything it assigned.

Streamed in position order, so memory stays flat however long the ledger is. A whole export
carries the full hash chain and is what ``ledger restore`` takes back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from ..domain.jsonl import format_recorded
from ..store.event_store import EventStore


def export_lines(
    store: EventStore,
    *,
    from_position: int | None = None,
    to_position: int | None = None,
    recorded_from: dt.datetime | None = None,
    recorded_to: dt.datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """Exported lines (each ending in a newline) of the events in the range, bounds inclusive.

    ``recorded_at`` never decreases with the position, so a time range is a position range:
    it starts at the first event recorded at or after ``recorded_from`` and stops at the
    first one recorded after ``recorded_to``.
    """
    after = (from_position or 1) - 1
    if recorded_from is not None:
        first = store.find(recorded_from=recorded_from, after=after, limit=1)
        if not first:
            return
        after = first[0].position - 1
    events = store.iter_events(after=after, until=to_position)
    for written, event in enumerate(events, start=1):
        if recorded_to is not None and event.recorded_at > recorded_to:
            return
        yield format_recorded(event) + b"\n"
        if on_progress is not None and written % 1000 == 0:
            on_progress(written)
