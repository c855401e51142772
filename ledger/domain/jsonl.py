"""The ledger's JSON Lines format: one event a line, for import, export, restore and the seed.

A line to *import* is an event as a client proposes it (``type``, ``effective_at``, ``data``,
``source``, and optionally ``event_id``, ``stream``, ``metadata``): the ledger gives it its
position, time and hash. A line that was *exported* also carries what the ledger gave it
(``position``, ``stream_version``, ``recorded_at``, ``prev_hash``, ``hash``); ``restore``
needs those and checks the chain they form before writing anything. An exported file is a
valid import file too (the recorded fields are then ignored).

Pure: parsing and formatting only, so the rules are the same for every adapter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from .canonical import format_timestamp
from .envelope import NewEvent, RecordedEvent
from .errors import ValidationError
from .event_data import stream_of
from .instants import parse_instant

IMPORT_KEYS = (
    "event_id",
    "stream",
    "type",
    "schema_version",
    "effective_at",
    "data",
    "source",
    "metadata",
)
RECORDED_KEYS = ("position", "stream_version", "recorded_at", "prev_hash", "hash")


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed line to import: where it was, which stream it goes to, and the event."""

    number: int
    stream: str
    event: NewEvent


@dataclass(frozen=True, slots=True)
class RefusedLine:
    """A line that was not written, and why (naming the field)."""

    number: int
    stream: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


def _object(text: str | bytes, number: int) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("line", f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValidationError("line", f"must be a JSON object, got {type(value).__name__}")
    return value


def parse_line(text: str | bytes, number: int) -> Line:
    """A line to import; ``ValidationError`` names what is wrong (``data.legs[0].payer``)."""
    value = _object(text, number)
    unknown = sorted(set(value) - set(IMPORT_KEYS) - set(RECORDED_KEYS))
    if unknown:
        raise ValidationError(unknown[0], "is not a field of an event line")
    for key in ("type", "effective_at", "data", "source"):
        if key not in value:
            raise ValidationError(key, "is required")
    data = value["data"]
    if not isinstance(data, dict):
        raise ValidationError("data", "must be an object")
    stream = value.get("stream")
    if stream is None:
        stream = stream_of(value["type"], data)
        if stream is None:
            raise ValidationError(
                "stream", "is required for this event (it names no entity or deal)"
            )
    if not isinstance(stream, str):
        raise ValidationError(
            "stream", "must be text such as entity/openai or deal/nvidia-openai-2025-09"
        )
    schema_version = value.get("schema_version", 1)
    effective_at = value["effective_at"]
    if isinstance(effective_at, str) and len(effective_at.strip()) == 10:
        try:  # a bare date is its 00:00 UTC, as everywhere in the ledger
            effective_at = parse_instant(effective_at)
        except ValueError as exc:
            raise ValidationError("effective_at", str(exc)) from None
    event = NewEvent(
        type=value["type"],
        data=data,
        effective_at=effective_at,
        source=value["source"],
        event_id=value.get("event_id"),
        metadata=value.get("metadata") or {},
        schema_version=schema_version,
    )
    return Line(number, stream, event)


def _timestamp(value: Any, field: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC)
    raise ValidationError(field, f"must be an ISO-8601 date-time with a time zone, got {value!r}")


def parse_recorded(text: str | bytes, number: int) -> RecordedEvent:
    """A line of an export, as the ledger recorded it: what ``restore`` writes back unchanged."""
    value = _object(text, number)
    missing = [
        k
        for k in (*RECORDED_KEYS, "event_id", "stream", "type", "data", "source")
        if k not in value
    ]
    if missing:
        raise ValidationError(
            missing[0], "is required to restore (restore takes the lines of `ledger export`)"
        )
    for key in ("position", "stream_version"):
        if type(value[key]) is not int or value[key] < 1:
            raise ValidationError(key, f"must be a positive integer, got {value[key]!r}")
    try:
        event_id = uuid.UUID(str(value["event_id"]))
    except ValueError:
        raise ValidationError("event_id", f"must be a UUID, got {value['event_id']!r}") from None
    return RecordedEvent(
        position=value["position"],
        stream=value["stream"],
        stream_version=value["stream_version"],
        event_id=event_id,
        type=value["type"],
        schema_version=value.get("schema_version", 1),
        data=value["data"],
        source=value["source"],
        metadata=value.get("metadata") or {},
        effective_at=_timestamp(value.get("effective_at"), "effective_at"),
        recorded_at=_timestamp(value["recorded_at"], "recorded_at"),
        prev_hash=value["prev_hash"],
        hash=value["hash"],
    )


def format_recorded(event: RecordedEvent) -> bytes:
    """One exported line (no newline): every field, so the file alone proves its chain."""
    return orjson.dumps(
        {
            "position": event.position,
            "stream": event.stream,
            "stream_version": event.stream_version,
            "event_id": str(event.event_id),
            "type": event.type,
            "schema_version": event.schema_version,
            "effective_at": format_timestamp(event.effective_at),
            "recorded_at": format_timestamp(event.recorded_at),
            "data": event.data,
            "source": event.source,
            "metadata": event.metadata,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
    )
