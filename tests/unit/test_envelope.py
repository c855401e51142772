"""Bad envelopes are refused before any I/O, with an error naming the field and the reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from decimal import Decimal

import pytest

from ledger.domain.canonical import canonical_bytes
from ledger.domain.envelope import (
    NewEvent,
    RecordedEvent,
    new_event_id,
    prepare,
    prepare_one,
    recorded_event,
    validate_expected_version,
    validate_stream,
)
from ledger.domain.errors import ValidationError
from tests.factories import registered, valuation


def refusal(events, max_bytes: int = 64 * 1024) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        prepare(events, max_bytes)
    return info.value


def test_a_valid_event_is_normalised_to_utc_and_gets_an_id() -> None:
    event = registered(event_id=None, effective_at="2025-09-22T12:00:00+02:00")
    [prepared] = prepare([event])
    assert isinstance(prepared.event_id, uuid.UUID)
    assert prepared.effective_at == dt.datetime(2025, 9, 22, 10, tzinfo=dt.UTC)


def test_a_missing_source_is_refused() -> None:
    error = refusal([registered(), registered(source=None)])
    assert error.field == "events[1].source"
    assert "required" in error.reason


def test_a_source_without_url_or_title_is_refused() -> None:
    error = refusal([registered(source={"note": "heard it somewhere"})])
    assert error.field == "events[0].source"
    assert "url or a title" in error.reason


def test_a_source_url_must_be_http() -> None:
    error = refusal([registered(source={"url": "javascript:alert(1)"})])
    assert error.field == "events[0].source.url"


def test_a_plain_text_source_is_a_citation_and_a_plain_url_is_a_url() -> None:
    [cited, linked] = prepare(
        [registered(source="Seed article 1"), registered(source="https://x.test/a")]
    )
    assert cited.source == {"title": "Seed article 1"}
    assert linked.source == {"url": "https://x.test/a"}


def test_an_unknown_source_field_is_refused() -> None:
    error = refusal([registered(source={"url": "https://x.test", "author": "me"})])
    assert error.field == "events[0].source.author"


def test_an_unknown_event_type_is_refused() -> None:
    error = refusal([registered(type="DealExploded")])
    assert error.field == "events[0].type"
    assert "DealExploded" in error.reason and "DealAnnounced" in error.reason


def test_a_naive_effective_at_is_refused() -> None:
    error = refusal([registered(effective_at=dt.datetime(2025, 1, 1))])
    assert error.field == "events[0].effective_at"
    assert "timezone" in error.reason


def test_a_naive_iso_string_is_refused_too() -> None:
    error = refusal([registered(effective_at="2025-01-01T00:00:00")])
    assert error.field == "events[0].effective_at"


def test_a_date_time_that_does_not_parse_is_refused() -> None:
    error = refusal([registered(effective_at="2025-13-45")])
    assert error.field == "events[0].effective_at"
    assert "ISO-8601" in error.reason


def test_a_non_uuid_event_id_is_refused() -> None:
    error = refusal([registered(event_id="not-a-uuid")])
    assert error.field == "events[0].event_id"
    assert "UUID" in error.reason


def test_an_oversized_payload_is_refused() -> None:
    big = registered(data={"entity_id": "openai", "name": "x" * 1500, "kind": "company"})
    error = refusal([big], max_bytes=1024)
    assert error.field == "events[0].data"
    assert "limit is 1024 bytes" in error.reason


def test_floats_are_refused_because_money_is_exact() -> None:
    error = refusal([valuation(data={"entity_id": "openai", "valuation_usd": 5e11})])
    assert error.field == "events[0].data.valuation_usd"
    assert "decimal string" in error.reason


def test_decimals_are_kept_exactly_as_decimal_strings() -> None:
    [p] = prepare([valuation(Decimal("157000000000.50"))])
    assert p.data["valuation_usd"] == "157000000000.5"  # canonical: no trailing zeros


def test_non_finite_decimals_are_refused() -> None:
    error = refusal([valuation(Decimal("NaN"))])
    assert error.field == "events[0].data.valuation_usd"


def test_nul_characters_are_refused_in_data() -> None:
    error = refusal([registered(data={"name": "Open\x00AI"})])
    assert error.field == "events[0].data.name"


def test_data_must_be_an_object() -> None:
    error = refusal([registered(data=["not", "an", "object"])])
    assert error.field == "events[0].data"


def test_nested_values_are_named_by_path() -> None:
    error = refusal([registered(data={"legs": [{"headline_usd": 1.5}]})])
    assert error.field == "events[0].data.legs[0].headline_usd"


def test_an_unknown_metadata_field_is_refused() -> None:
    error = refusal([registered(metadata={"actor": "analyst", "mood": "bullish"})])
    assert error.field == "events[0].metadata.mood"


def test_correlation_ids_must_be_uuids() -> None:
    error = refusal([registered(metadata={"correlation_id": "abc"})])
    assert error.field == "events[0].metadata.correlation_id"


def test_an_empty_batch_is_refused() -> None:
    assert refusal([]).field == "events"


def test_a_batch_may_not_repeat_an_event_id() -> None:
    first = registered()
    error = refusal([first, registered(event_id=first.event_id)])
    assert error.field == "events[1].event_id"
    assert "events[0]" in error.reason


def test_schema_version_must_be_positive() -> None:
    assert refusal([registered(schema_version=0)]).field == "events[0].schema_version"


def test_something_other_than_an_event_is_refused() -> None:
    error = refusal([{"type": "EntityRegistered"}])
    assert error.field == "events[0]"


@pytest.mark.parametrize(
    "stream",
    ["", "openai", "entity/", "entity/OpenAI", "company/openai", "deal/a--b", "deal/a b", None],
)
def test_malformed_stream_names_are_refused(stream: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_stream(stream)
    assert info.value.field == "stream"


def test_well_formed_stream_names_are_accepted() -> None:
    assert validate_stream("deal/nvidia-openai-2025-09") == "deal/nvidia-openai-2025-09"


@pytest.mark.parametrize("version", [-1, "3", 1.0, True])
def test_expected_version_must_be_a_non_negative_integer(version: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_expected_version(version)
    assert info.value.field == "expected_version"


def test_new_event_defaults_to_schema_version_1_and_no_metadata() -> None:
    event = NewEvent("EntityRenamed", {}, "2025-01-01T00:00:00Z", "cite")
    assert event.schema_version == 1 and dict(event.metadata) == {}


# -- what a large append builds its rows from -------------------------------------------------


def test_generated_ids_are_time_ordered_version_7_uuids() -> None:
    before = time.time_ns() // 1_000_000
    ids = [p.event_id for p in prepare([valuation(event_id=None) for _ in range(200)])]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 200
    for event_id in [*ids, new_event_id(), new_event_id(bytes(10))]:
        assert event_id.version == 7
        assert event_id.variant == uuid.RFC_4122
        assert uuid.UUID(str(event_id)) == event_id
        assert hash(event_id) == hash(uuid.UUID(str(event_id)))
    # The first 48 bits are the time in milliseconds: ids sort by when they were made.
    assert all(before <= i.int >> 80 <= after for i in ids)


def test_a_prepared_event_carries_the_canonical_bytes_it_is_hashed_from() -> None:
    [prepared] = prepare([registered(metadata={"actor": "ana \\ \u00e9"})])
    assert prepared.encoded == (
        canonical_bytes(prepared.data),
        canonical_bytes(prepared.source),
        canonical_bytes(prepared.metadata),
    )
    by_hand = dataclasses.replace(prepared)  # built from fields: no encoding carried
    assert by_hand.encoded is None
    assert by_hand == prepared
    assert by_hand.content_hash() == prepared.content_hash()


def test_the_size_limit_counts_the_same_bytes_as_before() -> None:
    [prepared] = prepare([registered()])
    size = len(canonical_bytes([prepared.data, prepared.source, prepared.metadata]))
    prepare([registered()], max_bytes=size)
    assert "limit" in refusal([registered()], max_bytes=size - 1).reason


def test_a_recorded_event_built_slot_by_slot_equals_one_built_by_its_class() -> None:
    fields = {
        "position": 3,
        "stream": "entity/openai",
        "stream_version": 2,
        "event_id": uuid.uuid4(),
        "type": "ValuationReported",
        "schema_version": 1,
        "data": {"a": "1"},
        "source": {"title": "t"},
        "metadata": {},
        "effective_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "recorded_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    built = recorded_event(*(fields[f.name] for f in dataclasses.fields(RecordedEvent)))
    assert built == RecordedEvent(**fields)
    assert repr(built) == repr(RecordedEvent(**fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.position = 4  # type: ignore[misc]


def test_an_error_names_the_event_of_a_batch_once() -> None:
    error = refusal([registered(), registered(source={"url": "ftp://x"})])
    assert error.field == "events[1].source.url"
    [prepared] = prepare([registered()])
    with pytest.raises(ValidationError) as info:
        prepare_one(registered(effective_at="nope"), "", 1000)
    assert info.value.field == "effective_at"
    assert prepared.type == "EntityRegistered"
