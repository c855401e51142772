"""The curated ledger's recording history: the data set as ``ledger export`` would write it.

``ai-deal-web.jsonl`` is what the curators edit: events in append order, without positions,
recording times or hashes. ``ai-deal-web.history.jsonl`` is the ledger the curators keep, as an
export: every event with its position, stream version, ``recorded_at`` and hash. ``ledger seed``
restores it into an empty ledger, which then has the curators' head digest and a ``knownAt`` that
means "what the curated ledger said then"; into a ledger that already holds events it appends
what is missing from the JSON Lines source by event id, as an import does.

The history is derived from the source alone, so anyone can regenerate and check it::

    python -m ledger.transfer.history ledger/data/ai-deal-web.jsonl > ledger/data/ai-deal-web.history.jsonl

Recording times follow one rule (docs/dataset.md, "The recording history"): the first curation,
which covers the web up to the seed articles, is recorded at ``FIRST_CURATION``; every later event
the day after its effective day at noon UTC, as if the curators kept the ledger current; an event
is never recorded before one that precedes it in the source (so a corrected announcement, which
follows its retraction there, is recorded with the retraction). An entity is recorded with the
first event it takes part in, never later. Positions follow the recording times.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..domain.chain import GENESIS_HASH, chain_hash
from ..domain.envelope import RecordedEvent, prepare_one
from ..domain.jsonl import format_recorded, parse_line

FIRST_CURATION = dt.datetime(2025, 10, 31, 12, tzinfo=dt.UTC)
MAX_EVENT_BYTES = 1 << 20  # the seed's lines are far below any store's limit
_DAY = dt.timedelta(days=1)
_NOON = dt.timedelta(hours=12)


def _day_after(effective_at: dt.datetime) -> dt.datetime:
    start = effective_at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(FIRST_CURATION, start + _DAY + _NOON)


def _names(data: dict[str, Any]) -> set[str]:
    """The entities an event takes part in."""
    named = {str(data["entity_id"])} if "entity_id" in data else set()
    for leg in data.get("legs", ()):
        named |= {str(leg["payer"]), str(leg["payee"])}
    return named


def curated_history(lines: Iterable[str | bytes]) -> Iterator[RecordedEvent]:
    """The source's events as the curated ledger recorded them, in position order."""
    parsed = [parse_line(text, n) for n, text in enumerate(lines, start=1) if text.strip()]
    events = [
        prepare_one(line.event, f"line {line.number}", MAX_EVENT_BYTES, line.stream)
        for line in parsed
    ]
    when: list[dt.datetime] = []
    latest = FIRST_CURATION
    first_use: dict[str, dt.datetime] = {}
    for event in events:
        if event.type == "EntityRegistered":
            when.append(FIRST_CURATION)  # placed below, once its first use is known
            continue
        latest = max(latest, _day_after(event.effective_at))
        when.append(latest)
        for entity in _names(event.data):
            first_use.setdefault(entity, latest)
    for i, event in enumerate(events):
        if event.type == "EntityRegistered":
            registered = str(event.data["entity_id"])
            when[i] = min(_day_after(event.effective_at), first_use.get(registered, FIRST_CURATION))
    order = sorted(
        range(len(parsed)),
        key=lambda i: (when[i], events[i].type != "EntityRegistered", i),
    )
    versions: dict[str, int] = {}
    prev_hash = GENESIS_HASH
    for position, i in enumerate(order, start=1):
        line, event = parsed[i], events[i]
        version = versions[line.stream] = versions.get(line.stream, 0) + 1
        fields: dict[str, Any] = {
            "position": position,
            "stream": line.stream,
            "stream_version": version,
            "event_id": event.event_id,
            "type": event.type,
            "schema_version": event.schema_version,
            "data": event.data,
            "source": event.source,
            "metadata": event.metadata,
            "effective_at": event.effective_at,
            "recorded_at": when[i],
        }
        digest = chain_hash(**fields, prev_hash=prev_hash)
        yield RecordedEvent(**fields, prev_hash=prev_hash, hash=digest)
        prev_hash = digest


def history_lines(lines: Iterable[str | bytes]) -> Iterator[bytes]:
    """The export lines (each ending in a newline) of the curated history."""
    for event in curated_history(lines):
        yield format_recorded(event) + b"\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(
            "usage: python -m ledger.transfer.history SOURCE.jsonl > HISTORY.jsonl", file=sys.stderr
        )
        return 2
    with open(argv[0], "rb") as source:
        for line in history_lines(source):
            sys.stdout.buffer.write(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
