"""Event envelopes: what a client hands in (``NewEvent``) and what the ledger recorded (``RecordedEvent``).

``prepare`` validates a batch before anything touches the database (``Preparing`` validates a
large one as it streams in, inside the transaction that would write it), so bad input is
refused whole, with an error naming the field (``events[2].effective_at``) and the reason.

This module holds one concept: an event's envelope from what a caller proposes to what is
recorded, and the one way between them (ids and fast construction live beside it, in
``event_ids`` and ``constructors``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .canonical import JSONValue, canonical_bytes, format_timestamp, normalise
from .chain import content_hash, content_hash_encoded
from .constructors import slot_constructor
from .errors import ValidationError
from .event_data import stream_of, validate_data
from .event_ids import new_event_id
from .event_types import EVENT_TYPES, MAX_SLUG_LENGTH, MAX_TEXT, STREAM

DEFAULT_MAX_EVENT_BYTES = 64 * 1024
SOURCE_KEYS = ("url", "title", "note")
METADATA_KEYS = ("actor", "actor_role", "request_id", "correlation_id", "causation_id")
UUID_METADATA_KEYS = ("correlation_id", "causation_id")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as a client proposes it; nothing is trusted until ``prepare`` has checked it."""

    type: str
    data: Mapping[str, Any]
    effective_at: dt.datetime | str
    source: Mapping[str, Any] | str | None
    event_id: uuid.UUID | str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """A validated, normalised event, ready to be given its position, version and hash."""

    event_id: uuid.UUID
    type: str
    schema_version: int
    data: dict[str, JSONValue]
    source: dict[str, JSONValue]
    metadata: dict[str, JSONValue]
    effective_at: dt.datetime
    # The canonical bytes of data, source and metadata, as ``prepare_one`` encoded them once
    # for the size limit; the content hash and the rows an append sends are made of them.
    # Not an argument: an event built or ``dataclasses.replace``d by hand has None, and is
    # encoded from its fields when it is hashed or sent.
    encoded: tuple[bytes, bytes, bytes] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    def content_hash(self) -> str:
        """The hash of what the caller supplied; the chain links it in at append time."""
        if self.encoded is not None:
            data, source, metadata = self.encoded
            return content_hash_encoded(
                event_id=str(self.event_id),
                type=self.type,
                schema_version=self.schema_version,
                data=data,
                source=source,
                metadata=metadata,
                effective_at=format_timestamp(self.effective_at),
            )
        return content_hash(
            event_id=self.event_id,
            type=self.type,
            schema_version=self.schema_version,
            data=self.data,
            source=self.source,
            metadata=self.metadata,
            effective_at=self.effective_at,
        )

    def placed(
        self,
        *,
        stream: str,
        position: int,
        stream_version: int,
        recorded_at: dt.datetime,
        prev_hash: str,
        hash: str,
    ) -> RecordedEvent:
        """This event as recorded, with what the ledger assigned to it."""
        return recorded_event(
            position,
            stream,
            stream_version,
            self.event_id,
            self.type,
            self.schema_version,
            self.data,
            self.source,
            self.metadata,
            self.effective_at,
            recorded_at,
            prev_hash,
            hash,
        )

    def same_content(self, recorded: RecordedEvent, stream: str) -> bool:
        """Whether a recorded event is this one (a retry), ignoring what the ledger assigned."""
        return (
            recorded.stream == stream
            and recorded.type == self.type
            and recorded.schema_version == self.schema_version
            and recorded.data == self.data
            and recorded.source == self.source
            and recorded.effective_at == self.effective_at
        )


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the ledger holds it: immutable, ordered, dated by the database, chained."""

    position: int
    stream: str
    stream_version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    source: dict[str, Any]
    metadata: dict[str, Any]
    effective_at: dt.datetime
    recorded_at: dt.datetime
    prev_hash: str
    hash: str


# RecordedEvent(position, stream, stream_version, event_id, type, schema_version, data, source,
# metadata, effective_at, recorded_at, prev_hash, hash), positional, in field order.
recorded_event = slot_constructor(
    RecordedEvent, [f.name for f in dataclasses.fields(RecordedEvent)]
)
_prepared_event = slot_constructor(
    PreparedEvent, [f.name for f in dataclasses.fields(PreparedEvent)]
)


def validate_stream(stream: Any, field_name: str = "stream") -> str:
    if not isinstance(stream, str) or not stream:
        raise ValidationError(field_name, "a stream name is required (entity/<id> or deal/<id>)")
    match = STREAM.fullmatch(stream)
    if match is None:
        raise ValidationError(
            field_name,
            f"{stream!r} is not a stream name: expected entity/<slug> or deal/<slug> "
            "with a lowercase slug of letters, digits and single hyphens",
        )
    if len(match.group(2)) > MAX_SLUG_LENGTH:
        raise ValidationError(field_name, f"the id may be at most {MAX_SLUG_LENGTH} characters")
    return stream


def validate_expected_version(expected_version: Any) -> int | None:
    if expected_version is None:
        return None
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise ValidationError("expected_version", "must be an integer")
    if expected_version < 0:
        raise ValidationError("expected_version", "must be 0 (a new stream) or more")
    return expected_version


def _event_id(value: Any, field_name: str) -> uuid.UUID:
    if value is None:
        return new_event_id()
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError(field_name, f"must be a UUID, got {value!r}")


def _effective_at(value: Any, field_name: str) -> dt.datetime:
    if value is None:
        raise ValidationError(field_name, "is required (when the fact became true in the world)")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(field_name, f"not an ISO-8601 date-time: {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise ValidationError(field_name, f"must be a date-time, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            field_name, "must be timezone-aware (got a naive date-time; add +00:00 or Z)"
        )
    return value.astimezone(dt.UTC)


def _text_fields(
    value: Mapping[str, Any], allowed: Sequence[str], field_name: str
) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {}
    for key, item in value.items():
        if key not in allowed:
            raise ValidationError(
                f"{field_name}.{key}", f"unknown field; allowed: {', '.join(allowed)}"
            )
        if item is None:
            continue
        if not isinstance(item, str):
            raise ValidationError(f"{field_name}.{key}", "must be text")
        item = item.strip()
        if "\x00" in item:
            raise ValidationError(f"{field_name}.{key}", "text may not contain the NUL character")
        if len(item) > MAX_TEXT:
            raise ValidationError(f"{field_name}.{key}", f"at most {MAX_TEXT} characters")
        if item:
            out[key] = item
    return out


def _source(value: Any, field_name: str) -> dict[str, JSONValue]:
    if value is None or value == "" or value == {}:
        raise ValidationError(
            field_name, "is required: every event needs a URL or a citation of where it comes from"
        )
    if isinstance(value, str):
        text = value.strip()
        value = {"url": text} if text.startswith(("http://", "https://")) else {"title": text}
    if not isinstance(value, Mapping):
        raise ValidationError(field_name, "must be an object with url, title and/or note")
    source = _text_fields(value, SOURCE_KEYS, field_name)
    if "url" not in source and "title" not in source:
        raise ValidationError(field_name, "needs at least a url or a title (citation text)")
    url = source.get("url")
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        raise ValidationError(f"{field_name}.url", f"must be an http(s) URL, got {url!r}")
    return source


def _metadata(value: Any, field_name: str) -> dict[str, JSONValue]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field_name, "must be an object")
    metadata = _text_fields(value, METADATA_KEYS, field_name)
    for key in UUID_METADATA_KEYS:
        if key in metadata:
            metadata[key] = str(_event_id(metadata[key], f"{field_name}.{key}"))
    return metadata


def _at(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def prepare_one(
    event: Any, field_name: str, max_bytes: int, stream: str | None = None
) -> PreparedEvent:
    """Validate and normalise one event; errors name its fields under ``field_name``
    (``events[2].effective_at``), or bare (``effective_at``) when ``field_name`` is empty."""
    if type(event) is not NewEvent and not isinstance(event, NewEvent):
        raise ValidationError(
            field_name or "event", f"must be a NewEvent, got {type(event).__name__}"
        )
    try:
        return _prepare(event, max_bytes, stream)
    except ValidationError as error:
        raise _named(error, field_name) from None


def _named(error: ValidationError, field_name: str) -> ValidationError:
    """The checks name fields bare (``source.url``); the event's place is added on the way
    out (``events[2].source.url``), so a valid event never pays for formatting names."""
    if not field_name or error.field == "stream":
        return error
    return ValidationError(_at(field_name, error.field), error.reason)


def _prepare(
    event: NewEvent, max_bytes: int, stream: str | None, random: bytes | None = None
) -> PreparedEvent:
    if event.type not in EVENT_TYPES:
        raise ValidationError(
            "type",
            f"unknown event type {event.type!r}; known types: {', '.join(sorted(EVENT_TYPES))}",
        )
    schema_version = event.schema_version
    if type(schema_version) is not int and (
        isinstance(schema_version, bool) or not isinstance(schema_version, int)
    ):
        raise ValidationError("schema_version", "must be a positive integer")
    if schema_version < 1:
        raise ValidationError("schema_version", "must be a positive integer")
    if type(event.data) is not dict and not isinstance(event.data, Mapping):
        raise ValidationError("data", "must be an object")
    data = normalise(event.data, "data")
    assert isinstance(data, dict)
    # what the event type requires of its data (spec section 1)
    data = validate_data(event.type, data, stream)
    event_id = (
        _event_id(event.event_id, "event_id")
        if event.event_id is not None
        else new_event_id(random)
    )
    source = _source(event.source, "source")
    metadata = _metadata(event.metadata, "metadata")
    effective_at = _effective_at(event.effective_at, "effective_at")
    # One encoding of each, for the limit (the size of ``[data, source, metadata]``), the
    # content hash and the rows sent to the database.
    try:  # canonical_bytes, three times (orjson refuses only integers beyond 64 bits)
        encoded = (
            orjson.dumps(data, option=orjson.OPT_SORT_KEYS),
            orjson.dumps(source, option=orjson.OPT_SORT_KEYS),
            orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS),
        )
    except TypeError:
        encoded = (canonical_bytes(data), canonical_bytes(source), canonical_bytes(metadata))
    size = len(encoded[0]) + len(encoded[1]) + len(encoded[2]) + 4
    if size > max_bytes:
        raise ValidationError("data", f"event is {size} bytes; the limit is {max_bytes} bytes")
    return _prepared_event(
        event_id, event.type, schema_version, data, source, metadata, effective_at, encoded
    )


def check_batch(prepared: Sequence[PreparedEvent], stream: str) -> None:
    """What a batch prepared beforehand (``EventStore.append_prepared``) needs besides each
    event being valid: at least one event, no event id twice, every event of ``stream``.
    ``Preparing`` checks the same as it goes; nothing here validates an event again."""
    if isinstance(prepared, PreparedEvent) or not prepared:
        raise ValidationError("events", "at least one event is required, as a list")
    seen: dict[uuid.UUID, int] = {}
    for i, event in enumerate(prepared):
        if not isinstance(event, PreparedEvent):
            raise ValidationError(f"events[{i}]", "must be a PreparedEvent")
        _refuse_repeat(seen, event.event_id, i)
        owner = stream_of(event.type, event.data)
        if owner is not None and owner != stream:
            raise ValidationError(
                "stream", f"a {event.type} event belongs in {owner}, not {stream}"
            )


def _refuse_repeat(seen: dict[uuid.UUID, int], event_id: uuid.UUID, i: int) -> None:
    first = seen.setdefault(event_id, i)
    if first != i:
        raise ValidationError(f"events[{i}].event_id", f"repeats the event_id of events[{first}]")


class Preparing(Sequence[PreparedEvent]):
    """A batch validated as it is read, one event at a time, with ``prepare``'s checks and errors.

    Why: a large append streams its rows to the server, and validating event k+1 while the
    server writes event k keeps both cores busy; validating the whole batch first left the
    server idle for a third of the time. A bad event then aborts the append's transaction, so
    nothing is written, and the error names it as ``prepare`` would. Events prepared once are
    kept: a retried append does not validate them again.
    """

    def __init__(self, events: Sequence[NewEvent] | NewEvent, max_bytes: int, stream: str | None):
        if isinstance(events, NewEvent):
            events = [events]
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            raise ValidationError("events", "must be a list of events")
        if not events:
            raise ValidationError("events", "at least one event is required")
        self._events = events
        self._max_bytes = max_bytes
        self._stream = stream
        self._prepared: list[PreparedEvent] = []
        self._seen: dict[uuid.UUID, int] = {}
        self._random = b""  # for the ids the ledger gives: drawn from the OS once per batch
        self._random_at = 0

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index: int) -> PreparedEvent:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        while len(self._prepared) <= index:
            self._prepare_next()
        return self._prepared[index]

    def __iter__(self) -> Iterator[PreparedEvent]:
        prepared = self._prepared
        for i in range(len(self._events)):
            if i == len(prepared):
                self._prepare_next()
            yield prepared[i]

    def _prepare_next(self) -> None:
        i = len(self._prepared)
        event = self._events[i]
        if type(event) is NewEvent:
            random = None
            if event.event_id is None:
                if self._random_at == len(self._random):
                    self._random, self._random_at = os.urandom(10 * (len(self._events) - i)), 0
                random = self._random[self._random_at : self._random_at + 10]
                self._random_at += 10
            try:
                prepared = _prepare(event, self._max_bytes, self._stream, random)
            except ValidationError as error:
                raise _named(error, f"events[{i}]") from None
        else:
            prepared = prepare_one(event, f"events[{i}]", self._max_bytes, self._stream)
        _refuse_repeat(self._seen, prepared.event_id, i)
        self._prepared.append(prepared)


def prepare(
    events: Sequence[NewEvent],
    max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    stream: str | None = None,
) -> list[PreparedEvent]:
    """Validate and normalise a batch; refuse the whole batch at its first bad field."""
    return list(Preparing(events, max_bytes, stream))
