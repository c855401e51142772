"""``ledger import``: append a file of events, validated as commands would, all or nothing per stream.

Each stream of the file is decided and appended as one batch: a bad line refuses its whole
stream (nothing of it is written) and is reported with its line number and the field at
fault; the other streams still go in. Entity streams are taken before deal streams, so a deal
may name entities registered further down the same file. Lines whose ``event_id`` is already
recorded with the same content are skipped, which makes a re-import (and ``ledger seed``) a
no-op; the same id with other content is refused.

The file's lines are appended stream by stream, so their global positions follow the
streams' order, not the file's line order; within a stream the order is the file's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..domain.decisions import (
    EXISTENCE_TYPES,
    Facts,
    Located,
    decide,
    entity_stream,
    known_entities,
    parties,
)
from ..domain.envelope import PreparedEvent, RecordedEvent, prepare
from ..domain.errors import ValidationError, VersionConflict
from ..domain.jsonl import Line, RefusedLine, parse_line
from ..store.event_store import EventStore, Wanted


@dataclass
class ImportReport:
    """What an import did: counts, and every refused line with its reason."""

    lines: int = 0
    written: int = 0
    already_recorded: int = 0
    streams_written: int = 0
    refused: list[RefusedLine] = field(default_factory=list)
    first_position: int | None = None
    last_position: int | None = None

    @property
    def ok(self) -> bool:
        return not self.refused


@dataclass(frozen=True, slots=True)
class _Pending:
    """A prepared event placed after the stream's history, so the folds can decide on it."""

    event_id: uuid.UUID
    type: str
    data: dict[str, Any]
    effective_at: Any
    position: int


_NOT_WRITTEN = "not written: line {number} of the same stream ({stream}) was refused"
_LATER = 1 << 62  # pending events fold after every recorded one at the same effective time


def import_lines(
    store: EventStore,
    lines: Iterable[str | bytes],
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Validate and append ``lines`` (JSON Lines); see the module docstring for the rules."""
    report = ImportReport()
    by_stream: dict[str, list[tuple[Line, PreparedEvent]]] = {}
    bad_streams: dict[str, int] = {}  # stream -> its first refused line
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        report.lines += 1
        line = None
        try:
            line = parse_line(text, number)
            prepared = prepare([line.event], store.max_event_bytes, line.stream)[0]
        except ValidationError as exc:
            field_name = exc.field.removeprefix("events[0].")
            stream = line.stream if line is not None else None
            report.refused.append(RefusedLine(number, stream, f"{field_name}: {exc.reason}"))
            if stream is not None:
                bad_streams.setdefault(stream, number)
            continue
        by_stream.setdefault(line.stream, []).append((line, prepared))

    # A line refused before its stream was known refuses nothing else; a stream with a refused
    # line is not written at all.
    for stream, number in bad_streams.items():
        report.refused.extend(
            RefusedLine(line.number, stream, _NOT_WRITTEN.format(number=number, stream=stream))
            for line, _ in by_stream.pop(stream, [])
        )
    streams = sorted(by_stream, key=lambda s: not s.startswith("entity/"))  # stable: file order
    recorded = store.get_many([p.event_id for s in streams for _, p in by_stream[s]])
    registered: set[str] = set()
    done = 0
    total = sum(len(v) for v in by_stream.values())
    for stream in streams:
        entries = by_stream[stream]
        written = _import_stream(store, stream, entries, recorded, registered, report)
        if written:
            report.streams_written += 1
        done += len(entries)
        if on_progress is not None:
            on_progress(done, total)
    report.refused.sort(key=lambda r: r.number)
    return report


def _import_stream(
    store: EventStore,
    stream: str,
    entries: list[tuple[Line, PreparedEvent]],
    recorded: dict[uuid.UUID, RecordedEvent],
    registered: set[str],
    report: ImportReport,
) -> bool:
    new: list[tuple[Line, PreparedEvent]] = []
    for line, prepared in entries:
        original = recorded.get(prepared.event_id)
        if original is None:
            new.append((line, prepared))
        elif not prepared.same_content(original, stream):
            return _refuse(
                report,
                stream,
                entries,
                line.number,
                f"event_id: {prepared.event_id} is already recorded (position "
                f"{original.position}, {original.stream}) with other content",
            )
    report.already_recorded += len(entries) - len(new)
    if not new:
        if stream.startswith("entity/"):
            registered.add(stream.removeprefix("entity/"))
        return False
    # One read for the stream: its history, the registrations of the entities its deals name
    # (those the file registered are known already), and the events its retractions name.
    named = frozenset().union(*(parties(p.data) for _, p in new)) - registered
    targets = [t for _, p in new if (t := _target_id(p)) is not None]
    found = store.read_wanted(
        Wanted(
            streams=[stream],
            event_ids=targets,
            partly=sorted(entity_stream(e) for e in named),
            partly_types=EXISTENCE_TYPES,
        )
    )
    history: list[Any] = [e for e in found if e.stream == stream]
    known = known_entities(found, named) | registered
    elsewhere = {e.event_id: e for e in found if e.stream != stream}
    for i, (line, prepared) in enumerate(new):
        facts = Facts(stream, known, _located(stream, history, elsewhere, _target_id(prepared)))
        try:
            decide(history, prepared, facts)
        except ValidationError as exc:
            return _refuse(report, stream, entries, line.number, str(exc))
        history.append(
            _Pending(
                prepared.event_id, prepared.type, prepared.data, prepared.effective_at, _LATER + i
            )
        )
    try:
        placed = store.append_prepared(
            stream, [prepared for _, prepared in new], expected_version=len(history) - len(new)
        )
    except (ValidationError, VersionConflict) as exc:
        return _refuse(report, stream, entries, new[0][0].number, str(exc))
    if stream.startswith("entity/"):
        registered.add(stream.removeprefix("entity/"))
    report.written += len(placed)
    first, last = placed[0].position, placed[-1].position
    report.first_position = min(first, report.first_position or first)
    report.last_position = max(last, report.last_position or last)
    return True


def _target_id(prepared: PreparedEvent) -> uuid.UUID | None:
    if prepared.type != "EventRetracted":
        return None
    return uuid.UUID(str(prepared.data["target_event_id"]))


def _located(
    stream: str,
    history: list[Any],
    elsewhere: dict[uuid.UUID, RecordedEvent],
    target_id: uuid.UUID | None,
) -> Located | None:
    """Where the event a retraction names is: in this stream so far (recorded, or a line
    above), or recorded in another stream; ``None`` if nowhere (or for another event)."""
    if target_id is None:
        return None
    here = next((e for e in history if e.event_id == target_id), None)
    if here is not None:
        return Located(here.type, stream)
    there = elsewhere.get(target_id)
    return Located(there.type, there.stream) if there is not None else None


def _refuse(
    report: ImportReport,
    stream: str,
    entries: list[tuple[Line, PreparedEvent]],
    number: int,
    reason: str,
) -> bool:
    report.refused.append(RefusedLine(number, stream, reason))
    report.refused.extend(
        RefusedLine(line.number, stream, _NOT_WRITTEN.format(number=number, stream=stream))
        for line, _ in entries
        if line.number != number
    )
    return False
