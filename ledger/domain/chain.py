"""The hash chain: each event's hash covers its whole content and the previous event's hash.

An event's hash is computed in two steps. Its *content hash* covers what the caller supplied
(id, type, schema version, data, source, metadata, effective time); its *hash* then covers the
content hash together with where and when the ledger put it (position, stream, stream version,
recorded time) and the previous event's hash. The first step runs in the client before an append;
the second needs the head of the ledger and the database clock, so the database runs it inside
the append, under the append lock, in one round trip.

Because the position is part of what is hashed, an event cannot be moved, and because each hash
covers the previous one, no event can be changed, dropped or inserted without breaking every
hash after it. A digest ``POSITION:HASH`` kept by an auditor pins the whole history up to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .canonical import canonical_bytes, format_timestamp

GENESIS_HASH = "0" * 64

# The fields of an event that the hash covers, in the order they are documented.
CHAIN_FIELDS: tuple[str, ...] = (
    "position",
    "stream",
    "stream_version",
    "event_id",
    "type",
    "schema_version",
    "data",
    "source",
    "metadata",
    "effective_at",
    "recorded_at",
    "prev_hash",
)


def content_hash(
    *,
    event_id: Any,
    type: str,
    schema_version: int,
    data: Any,
    source: Any,
    metadata: Any,
    effective_at: Any,
) -> str:
    """SHA-256 (hex) of the canonical JSON object of the event's content fields."""
    record = {
        "event_id": str(event_id),
        "type": type,
        "schema_version": schema_version,
        "data": data,
        "source": source,
        "metadata": metadata,
        "effective_at": format_timestamp(effective_at),
    }
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


# content_hash's object with its members in place (bytes %-formatting): data, effective_at,
# event_id, metadata, schema_version, source, type -- the keys in sorted order.
CONTENT_FORMAT = (
    b'{"data":%b,"effective_at":"%b","event_id":"%b","metadata":%b,'
    b'"schema_version":%d,"source":%b,"type":"%b"}'
)


def content_hash_encoded(
    *,
    event_id: str,
    type: str,
    schema_version: int,
    data: bytes,
    source: bytes,
    metadata: bytes,
    effective_at: str,
) -> str:
    """``content_hash`` from the canonical bytes of data, source and metadata, encoded once.

    The canonical encoding of an object is its members' encodings in key order, so the record
    is composed, not encoded again. The other members need no JSON escaping: an event type is
    one of ``EVENT_TYPES`` (ASCII letters), an id is a UUID's text, a time is
    ``format_timestamp``'s (digits and ``-:.TZ``). A test holds it to ``content_hash``."""
    return hashlib.sha256(
        CONTENT_FORMAT
        % (
            data,
            effective_at.encode(),
            event_id.encode(),
            metadata,
            schema_version,
            source,
            type.encode(),
        )
    ).hexdigest()


# link_hash's object with its values in place: every value is plain ASCII that needs no
# escaping, which is also what lets events_append() build the same bytes with format().
LINK_FORMAT = (
    '{{"content":"{}","position":{},"prev_hash":"{}","recorded_at":"{}",'
    '"stream":"{}","stream_version":{}}}'
)


def link_hash_ascii(
    *,
    position: int,
    stream: str,
    stream_version: int,
    recorded_at: str,
    prev_hash: str,
    content: str,
) -> str:
    """``link_hash`` for values the append has checked (a validated stream, hexadecimal
    hashes, ``recorded_at`` already formatted): the bytes are written, not encoded. A test
    holds it to ``link_hash``; ``verify`` recomputes with ``link_hash`` itself."""
    return hashlib.sha256(
        LINK_FORMAT.format(
            content, position, prev_hash, recorded_at, stream, stream_version
        ).encode()
    ).hexdigest()


def link_hash(
    *,
    position: int,
    stream: str,
    stream_version: int,
    recorded_at: Any,
    prev_hash: str,
    content: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON object that places content in the chain.

    Every value here is plain ASCII that needs no JSON escaping (a stream matches
    ``event_types.STREAM``), so the database computes the very same bytes with ``format()`` when it
    appends (migration 0002), and the client never has to hold the append lock while it hashes.
    """
    record = {
        "content": content,
        "position": position,
        "prev_hash": prev_hash,
        "recorded_at": format_timestamp(recorded_at),
        "stream": stream,
        "stream_version": stream_version,
    }
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def chain_hash(
    *,
    position: int,
    stream: str,
    stream_version: int,
    event_id: Any,
    type: str,
    schema_version: int,
    data: Any,
    source: Any,
    metadata: Any,
    effective_at: Any,
    recorded_at: Any,
    prev_hash: str,
) -> str:
    """An event's hash: its content hash, linked to its place in the chain and the previous hash."""
    content = content_hash(
        event_id=event_id,
        type=type,
        schema_version=schema_version,
        data=data,
        source=source,
        metadata=metadata,
        effective_at=effective_at,
    )
    return link_hash(
        position=position,
        stream=stream,
        stream_version=stream_version,
        recorded_at=recorded_at,
        prev_hash=prev_hash,
        content=content,
    )


@dataclass(frozen=True, slots=True)
class Digest:
    """What an auditor keeps: the position and hash of the ledger's head at some moment."""

    position: int
    hash: str

    def __str__(self) -> str:
        return f"{self.position}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        from .errors import ValidationError

        position_text, sep, hash_text = text.strip().partition(":")
        if not sep or not position_text.isdigit():
            raise ValidationError("digest", f"expected POSITION:HASH, got {text!r}")
        hash_text = hash_text.lower()
        if len(hash_text) != 64 or any(c not in "0123456789abcdef" for c in hash_text):
            raise ValidationError("digest", "the hash must be 64 hexadecimal digits (SHA-256)")
        return cls(int(position_text), hash_text)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the recomputed chain disagrees with what is stored."""

    position: int
    reason: str

    def __str__(self) -> str:
        return f"chain breaks at position {self.position}: {self.reason}"


class ChainVerifier:
    """Folds events in position order and reports the first break; pure, so any reader can use it.

    Feed it stored events (anything with the chain fields as attributes) one at a time; it keeps
    only the previous position and hash, so memory stays flat however long the ledger is.
    """

    def __init__(self) -> None:
        self.position = 0
        self.hash = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, event: Any) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        expected_position = self.position + 1
        if event.position != expected_position:
            self.broken = ChainBreak(
                expected_position,
                f"event at position {expected_position} is missing "
                f"(next stored position is {event.position})",
            )
        elif event.prev_hash != self.hash:
            self.broken = ChainBreak(
                event.position,
                f"prev_hash {event.prev_hash[:16]}… does not match the hash of position "
                f"{self.position} ({self.hash[:16]}…)",
            )
        else:
            recomputed = chain_hash(**{f: getattr(event, f) for f in CHAIN_FIELDS})
            if recomputed != event.hash:
                self.broken = ChainBreak(
                    event.position,
                    f"stored hash {event.hash[:16]}… differs from the recomputed "
                    f"{recomputed[:16]}… (the event's content was changed)",
                )
        if self.broken is None:
            self.position = event.position
            self.hash = event.hash
        return self.broken
