"""The hash chain: deterministic, sensitive to every field, and its verifier names the first break."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.canonical import canonical_bytes, format_timestamp, normalise
from ledger.domain.chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    ChainVerifier,
    Digest,
    chain_hash,
    content_hash,
    content_hash_encoded,
    link_hash,
    link_hash_ascii,
)
from ledger.domain.envelope import RecordedEvent
from ledger.domain.errors import ValidationError
from ledger.domain.event_types import EVENT_TYPES

T0 = dt.datetime(2025, 9, 22, tzinfo=dt.UTC)


def make_chain(n: int) -> list[RecordedEvent]:
    events, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        fields = {
            "position": i,
            "stream": f"entity/e{i % 3}",
            "stream_version": (i + 2) // 3,
            "event_id": uuid.UUID(int=i),
            "type": "ValuationReported",
            "schema_version": 1,
            "data": {"valuation_usd": str(i * 1000)},
            "source": {"title": "seed"},
            "metadata": {},
            "effective_at": T0,
            "recorded_at": T0 + dt.timedelta(seconds=i),
            "prev_hash": prev,
        }
        prev = chain_hash(**fields)
        events.append(RecordedEvent(**fields, hash=prev))
    return events


def first_break(events: list[RecordedEvent]):
    verifier = ChainVerifier()
    for event in events:
        if verifier.feed(event):
            break
    return verifier.broken


def test_an_untouched_chain_verifies() -> None:
    assert first_break(make_chain(10)) is None


def test_the_hash_is_the_same_for_the_same_content() -> None:
    a, b = make_chain(3), make_chain(3)
    assert [e.hash for e in a] == [e.hash for e in b]


@pytest.mark.parametrize(
    "field,value",
    [
        ("stream", "entity/other"),
        ("stream_version", 99),
        ("event_id", uuid.UUID(int=999)),
        ("type", "RevenueReported"),
        ("schema_version", 2),
        ("data", {"valuation_usd": "1"}),
        ("source", {"title": "another"}),
        ("metadata", {"actor": "mallory"}),
        ("effective_at", T0 + dt.timedelta(microseconds=1)),
        ("recorded_at", T0),
    ],
)
def test_changing_any_field_breaks_the_chain_at_that_position(field: str, value: object) -> None:
    events = make_chain(6)
    events[3] = dataclasses.replace(events[3], **{field: value})
    broken = first_break(events)
    assert broken is not None and broken.position == 4
    assert "content was changed" in broken.reason


def test_every_documented_field_is_covered_by_the_hash() -> None:
    assert set(CHAIN_FIELDS) == {f.name for f in dataclasses.fields(RecordedEvent)} - {"hash"}


def test_a_deleted_event_is_reported_as_missing() -> None:
    events = make_chain(6)
    del events[2]
    broken = first_break(events)
    assert broken is not None and broken.position == 3
    assert "missing" in broken.reason


def test_two_swapped_events_break_at_the_first_of_them() -> None:
    events = make_chain(6)
    a, b = events[1], events[4]
    events[1] = dataclasses.replace(b, position=2)
    events[4] = dataclasses.replace(a, position=5)
    broken = first_break(events)
    assert broken is not None and broken.position == 2


def test_a_recomputed_hash_is_caught_by_the_next_event() -> None:
    events = make_chain(5)
    forged = dataclasses.replace(events[2], data={"valuation_usd": "0"})
    forged_fields = {f: getattr(forged, f) for f in CHAIN_FIELDS}
    events[2] = dataclasses.replace(forged, hash=chain_hash(**forged_fields))
    broken = first_break(events)
    assert broken is not None and broken.position == 4
    assert "prev_hash" in broken.reason


def test_timestamps_hash_the_same_in_any_time_zone() -> None:
    [event] = make_chain(1)
    fields = {f: getattr(event, f) for f in CHAIN_FIELDS}
    fields["recorded_at"] = fields["recorded_at"].astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert chain_hash(**fields) == event.hash


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values))
def test_canonical_bytes_do_not_depend_on_key_order(value: dict) -> None:
    reversed_value = dict(reversed(list(value.items())))
    assert canonical_bytes(value) == canonical_bytes(reversed_value)


def _definition(value: object) -> bytes:
    """The canonical encoding as documented, written with the standard library only."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@settings(max_examples=500)
@given(
    json_values
    | st.integers(min_value=2**64, max_value=2**80)
    | st.text(st.characters(exclude_categories=("Cs",)))
)
def test_canonical_bytes_are_exactly_the_documented_json_encoding(value: object) -> None:
    # The fast encoder must never change a hash: every recorded hash depends on these bytes.
    assert canonical_bytes(value) == _definition(value)


# Instants the domain accepts: in range once in UTC (instants.py refuses year 1 east of UTC
# and year 9999 west of it before anything is formatted or hashed).
instants = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()
)


@given(instants)
def test_timestamps_format_as_utc_with_microseconds_for_every_year(value: dt.datetime) -> None:
    utc = value.astimezone(dt.UTC)
    expected = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"
    assert format_timestamp(value) == expected


def test_text_with_a_lone_surrogate_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        normalise({"name": "bad \ud800 text"}, "data")
    assert raised.value.field == "data.name"
    assert "Unicode" in str(raised.value)


def test_a_digest_round_trips_through_text() -> None:
    digest = Digest(42, "ab" * 32)
    assert Digest.parse(str(digest)) == digest


@pytest.mark.parametrize("text", ["42", "x:" + "a" * 64, "42:abc", "42:" + "g" * 64, ""])
def test_a_malformed_digest_is_refused_with_its_format(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Digest.parse(text)
    assert info.value.field == "digest"


# -- the append's fast forms of the two steps, held to the definitions --------------------


json_objects = st.dictionaries(st.text(), json_values, max_size=6)
hex_hashes = st.text("0123456789abcdef", min_size=64, max_size=64)
slugs = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)


@settings(max_examples=300)
@given(
    data=json_objects | st.dictionaries(st.text(), st.integers(2**64, 2**80), max_size=2),
    source=json_objects,
    metadata=json_objects,
    type=st.sampled_from(sorted(EVENT_TYPES)),
    schema_version=st.integers(1, 2**31),
    event_id=st.uuids(),
    effective_at=instants,
)
def test_the_content_hash_from_encoded_members_is_the_content_hash(
    data: dict,
    source: dict,
    metadata: dict,
    type: str,
    schema_version: int,
    event_id: uuid.UUID,
    effective_at: dt.datetime,
) -> None:
    expected = content_hash(
        event_id=event_id,
        type=type,
        schema_version=schema_version,
        data=data,
        source=source,
        metadata=metadata,
        effective_at=effective_at,
    )
    assert (
        content_hash_encoded(
            event_id=str(event_id),
            type=type,
            schema_version=schema_version,
            data=canonical_bytes(data),
            source=canonical_bytes(source),
            metadata=canonical_bytes(metadata),
            effective_at=format_timestamp(effective_at),
        )
        == expected
    )


@settings(max_examples=300)
@given(
    position=st.integers(1, 2**63 - 1),
    kind=st.sampled_from(["entity", "deal"]),
    slug=slugs,
    stream_version=st.integers(1, 2**31 - 1),
    recorded_at=instants,
    prev_hash=hex_hashes,
    content=hex_hashes,
)
def test_the_link_hash_of_checked_values_is_the_link_hash(
    position: int,
    kind: str,
    slug: str,
    stream_version: int,
    recorded_at: dt.datetime,
    prev_hash: str,
    content: str,
) -> None:
    stream = f"{kind}/{slug}"
    assert link_hash_ascii(
        position=position,
        stream=stream,
        stream_version=stream_version,
        recorded_at=format_timestamp(recorded_at),
        prev_hash=prev_hash,
        content=content,
    ) == link_hash(
        position=position,
        stream=stream,
        stream_version=stream_version,
        recorded_at=recorded_at,
        prev_hash=prev_hash,
        content=content,
    )
