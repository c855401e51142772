"""Appending: atomic batches, optimistic concurrency, idempotent retries, the database's clock."""

from __future__ import annotations

import datetime as dt
import importlib

import psycopg
import pytest
from sqlalchemy import text

from ledger.domain.chain import CHAIN_FIELDS, GENESIS_HASH, chain_hash
from ledger.domain.envelope import DEFAULT_MAX_EVENT_BYTES, NewEvent, prepare
from ledger.domain.errors import DuplicateEvent, ValidationError, VersionConflict
from ledger.store import EventStore
from ledger.store.engine import make_engine
from ledger.store.event_store import (
    _FUNCTION_MAX_EVENTS,
    APPEND_LOCK_KEY,
    APPENDED_CHANNEL,
    function_batch,
)
from ledger.store.verify import verify
from tests.conftest import APP_ROLE, TestDatabase, libpq_url
from tests.factories import registered, valuation


def announced_with_legs(n: int) -> NewEvent:
    legs = [
        {
            "leg": f"l{i}",
            "payer": "nvidia",
            "payee": "openai",
            "instrument": "purchase",
            "headline_usd": "1000000000",
        }
        for i in range(n)
    ]
    data = {"deal_id": "big", "title": "A deal with very many legs", "legs": legs}
    return NewEvent(
        type="DealAnnounced",
        data=data,
        effective_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        source={"title": "t"},
    )


def count(store: EventStore) -> int:
    return store.head().position


def test_an_empty_ledger_has_the_genesis_head(store: EventStore) -> None:
    head = store.head()
    assert (head.position, head.hash, head.recorded_at) == (0, GENESIS_HASH, None)


def test_appended_events_get_gapless_positions_and_stream_versions(store: EventStore) -> None:
    first = store.append("entity/openai", [registered(), valuation()])
    second = store.append("entity/nvidia", [registered("nvidia")])
    third = store.append("entity/openai", [valuation("157000000000")])
    assert [e.position for e in first + second + third] == [1, 2, 3, 4]
    assert [e.stream_version for e in first] == [1, 2]
    assert second[0].stream_version == 1 and third[0].stream_version == 3
    assert store.read_stream("entity/openai") == first + third


def test_events_chain_each_hash_to_the_previous_one(store: EventStore) -> None:
    events = store.append("entity/openai", [registered(), valuation(), valuation("1")])
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert store.head().hash == events[-1].hash


def test_what_is_read_back_equals_what_append_returned(store: EventStore) -> None:
    appended = store.append("entity/openai", [registered(), valuation("157000000000.50")])
    assert store.read() == appended
    assert store.get(appended[1].event_id) == appended[1]


def test_recorded_at_comes_from_the_database_clock(
    store: EventStore, database: TestDatabase
) -> None:
    with database.owner_engine.connect() as conn:
        before = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    [event] = store.append("entity/openai", [registered()])
    with database.owner_engine.connect() as conn:
        after = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    assert before <= event.recorded_at <= after
    assert event.recorded_at.tzinfo is not None


def test_recorded_at_never_decreases_with_position(store: EventStore) -> None:
    for i in range(20):
        store.append(f"entity/e{i % 4}", [valuation(str(i), f"e{i % 4}")])
    times = [e.recorded_at for e in store.read()]
    assert times == sorted(times)


def test_a_matching_expected_version_appends(store: EventStore) -> None:
    store.append("entity/openai", [registered()], expected_version=0)
    [event] = store.append("entity/openai", [valuation()], expected_version=1)
    assert event.stream_version == 2


def test_a_stale_expected_version_is_a_conflict_naming_the_current_version(
    store: EventStore,
) -> None:
    store.append("entity/openai", [registered(), valuation()])
    with pytest.raises(VersionConflict) as info:
        store.append("entity/openai", [valuation("1")], expected_version=1)
    assert info.value.current == 2 and info.value.expected == 1
    assert "current version is 2" in str(info.value)
    assert count(store) == 2


def test_expecting_a_new_stream_conflicts_when_it_exists(store: EventStore) -> None:
    store.append("entity/openai", [registered()])
    with pytest.raises(VersionConflict):
        store.append("entity/openai", [registered()], expected_version=0)


def test_a_retry_with_the_same_event_ids_returns_the_original_and_writes_nothing(
    store: EventStore,
) -> None:
    batch = [registered(), valuation()]
    original = store.append("entity/openai", batch, expected_version=0)
    store.append("entity/nvidia", [registered("nvidia")])
    retried = store.append("entity/openai", batch, expected_version=0)
    assert retried == original
    assert count(store) == 3


def test_a_retry_of_part_of_a_batch_is_refused(store: EventStore) -> None:
    first, second = registered(), valuation()
    store.append("entity/openai", [first])
    with pytest.raises(DuplicateEvent) as info:
        store.append("entity/openai", [first, second])
    assert "retry must repeat its batch" in str(info.value)
    assert count(store) == 1


def test_an_event_id_reused_for_other_content_is_refused(store: EventStore) -> None:
    event = valuation("300000000000")
    store.append("entity/openai", [event])
    with pytest.raises(DuplicateEvent) as info:
        store.append("entity/openai", [valuation("1", event_id=event.event_id)])
    assert "different content" in str(info.value)
    with pytest.raises(DuplicateEvent):  # the same id in another stream
        store.append(
            "entity/nvidia", [valuation("300000000000", "nvidia", event_id=event.event_id)]
        )
    assert count(store) == 1


def test_a_batch_with_one_bad_event_writes_nothing(store: EventStore) -> None:
    store.append("entity/openai", [registered()])
    head = store.head()
    bad = valuation(effective_at=dt.datetime(2025, 1, 1))  # naive
    with pytest.raises(ValidationError) as info:
        store.append("entity/openai", [valuation(), valuation(), bad])
    assert info.value.field == "events[2].effective_at"
    assert store.head() == head


def test_a_batch_refused_by_the_database_writes_nothing(store: EventStore) -> None:
    store.append("entity/openai", [registered()])
    head = store.head()
    # The third event's id exists in another stream: the whole batch is refused.
    other = store.append("entity/nvidia", [registered("nvidia")])[0]
    head = store.head()
    batch = [valuation(), valuation(), valuation(event_id=other.event_id)]
    with pytest.raises(DuplicateEvent):
        store.append("entity/openai", batch)
    assert store.head() == head
    assert store.stream_version("entity/openai") == 1


@pytest.mark.parametrize(
    "stream,events,field",
    [
        ("entity/openai", [registered(source=None)], "events[0].source"),
        ("entity/openai", [registered(type="Rumour")], "events[0].type"),
        (
            "entity/openai",
            [registered(effective_at=dt.datetime(2025, 1, 1))],
            "events[0].effective_at",
        ),
        ("entity/openai", [registered(event_id="42")], "events[0].event_id"),
        ("deal/big", [announced_with_legs(700)], "events[0].data"),
        ("entity/nvidia", [registered("openai")], "stream"),
        ("entity/openai", [registered(data={"entity_id": "openai"})], "events[0].data.name"),
        ("Entity/OpenAI", [registered()], "stream"),
    ],
)
def test_malformed_envelopes_are_refused_and_nothing_is_written(
    store: EventStore, stream: str, events: list, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        store.append(stream, events)
    assert info.value.field == field
    assert count(store) == 0


def test_a_large_batch_is_recorded_whole(store: EventStore) -> None:
    events = store.append("entity/openai", [valuation(str(i)) for i in range(2500)])
    assert [e.position for e in events] == list(range(1, 2501))
    assert [e.position for e in store.iter_events(batch_size=1000)] == list(range(1, 2501))


def test_big_amounts_and_unicode_survive_the_round_trip(store: EventStore) -> None:
    data = {"entity_id": "softbank", "name": 'ソフトバンク \u2028 "Group"', "kind": "company"}
    [event] = store.append("entity/softbank", [registered("softbank", data=data)])
    big = valuation(10**29 + 1, "softbank")  # 30 digits: beyond 64 bits, kept exactly
    [valued] = store.append("entity/softbank", [big])
    assert valued.data["valuation_usd"] == str(10**29 + 1)
    assert store.read() == [event, valued]


# Small appends run in the database (events_append, one round trip), large ones by COPY with
# the client linking the hashes; both must write the same chain and honour the same rules.
PATHS = pytest.mark.parametrize(
    "size", [1, _FUNCTION_MAX_EVENTS, _FUNCTION_MAX_EVENTS + 1], ids=["one", "function", "copy"]
)


@PATHS
def test_either_append_path_writes_hashes_the_python_definition_recomputes(
    store: EventStore, size: int
) -> None:
    store.append("entity/openai", [registered()])
    title = 'Ö "quoted" \\ \u2028 ソフト'
    batch = [valuation(str(10**20 + i), source={"title": title}) for i in range(size)]
    appended = store.append("entity/openai", batch)
    stored = store.read(limit=size + 1)
    assert stored[1:] == appended
    for event in stored:
        assert event.hash == chain_hash(**{f: getattr(event, f) for f in CHAIN_FIELDS})
    assert verify(store).ok


@PATHS
def test_either_append_path_refuses_a_stale_expected_version(store: EventStore, size: int) -> None:
    store.append("entity/openai", [registered(), valuation()])
    head = store.head()
    with pytest.raises(VersionConflict) as info:
        store.append("entity/openai", [valuation(str(i)) for i in range(size)], expected_version=1)
    assert info.value.current == 2
    assert store.head() == head


@PATHS
@pytest.mark.parametrize("expected", [0, None], ids=["expecting", "unconditional"])
def test_either_append_path_answers_a_retry_with_the_original(
    store: EventStore, size: int, expected: int | None
) -> None:
    # With an expected version a retry meets the version its own events made; without one it
    # meets the unique key on event_id. Either way it gets the recorded events back.
    batch = [valuation(str(i)) for i in range(size)]
    first = store.append("entity/openai", batch, expected_version=expected)
    again = store.append("entity/openai", batch, expected_version=expected)
    assert again == first
    assert store.head().position == size


@pytest.mark.parametrize("size", [3, _FUNCTION_MAX_EVENTS, 150], ids=["function", "full", "copy"])
@pytest.mark.parametrize("fault", ["naive time", "repeated id"])
def test_either_append_path_refuses_a_bad_last_event_naming_it_and_writes_nothing(
    store: EventStore, size: int, fault: str
) -> None:
    # A large batch is validated as it streams in: its last event is checked after the
    # others were sent, and the refusal still leaves nothing written and the lock free.
    store.append("entity/openai", [registered()])
    head = store.head()
    batch = [valuation(str(i)) for i in range(size)]
    if fault == "naive time":
        batch[-1] = valuation(effective_at=dt.datetime(2025, 1, 1))
        field = f"events[{size - 1}].effective_at"
    else:
        batch[-1] = valuation(event_id=batch[0].event_id)
        field = f"events[{size - 1}].event_id"
    with pytest.raises(ValidationError) as info:
        store.append("entity/openai", batch)
    assert info.value.field == field
    assert store.head() == head
    assert store.append("entity/openai", batch[:-1])[-1].position == head.position + size - 1


def test_the_database_notifies_the_channel_the_client_listens_on() -> None:
    migration = importlib.import_module("migrations.versions.0008_events_append_one_statement")
    assert migration.APPENDED_CHANNEL == APPENDED_CHANNEL


def test_the_database_and_the_client_take_the_same_append_lock() -> None:
    migration = importlib.import_module("migrations.versions.0002_events_append")
    assert migration.APPEND_LOCK_KEY == APPEND_LOCK_KEY


def test_a_large_batch_reusing_a_recorded_id_is_refused_whole(store: EventStore) -> None:
    # The COPY path probes only the batch's first id; the unique key catches any other.
    other = store.append("entity/nvidia", [registered("nvidia")])[0]
    head = store.head()
    batch = [valuation(str(i)) for i in range(_FUNCTION_MAX_EVENTS)]
    batch.append(valuation(event_id=other.event_id))
    with pytest.raises(DuplicateEvent):
        store.append("entity/openai", batch)
    assert store.head() == head


def test_an_append_whose_connection_the_server_dropped_is_retried_once(
    database: TestDatabase,
) -> None:
    store = EventStore(make_engine(database.url, app_role=APP_ROLE, pool_size=1))
    try:
        store.append("entity/openai", [registered()])
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with database.owner_engine.connect() as owner:
            assert owner.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        recorded = store.append("entity/openai", [valuation()])
        assert [e.position for e in recorded] == [2]
        assert store.head().position == 2
    finally:
        store.engine.dispose()


def test_an_append_scans_nothing_even_with_plans_made_when_the_table_was_young(
    database: TestDatabase,
) -> None:
    # A retry probe planned while the table was small kept its sequential scan as the ledger
    # grew: every append got slower. The unique key on event_id is the probe now, and every
    # other lookup of the function goes through a key, whatever the planner knew.
    store = EventStore(make_engine(database.url, app_role=APP_ROLE, pool_size=1))
    scans = text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'events'")
    try:
        for i in range(8):  # past psycopg's and plpgsql's thresholds: plans are cached now
            store.append("entity/openai", [valuation(str(i))])
        EventStore(database.owner_engine).append(
            "entity/nvidia", [valuation(str(i), "nvidia") for i in range(3000)]
        )
        with store.engine.connect() as conn:
            before = conn.execute(scans).scalar_one()
            prepared = prepare([valuation("1")], DEFAULT_MAX_EVENT_BYTES, "entity/openai")
            outcome = conn.execute(
                text("SELECT outcome FROM events_append('entity/openai', 8, CAST(:b AS jsonb))"),
                {"b": function_batch(prepared)},
            ).scalar_one()
            assert outcome == "recorded"
            assert conn.execute(scans).scalar_one() == before
            conn.rollback()
    finally:
        store.engine.dispose()


def test_an_append_notifies_listeners_when_it_commits(
    store: EventStore, database: TestDatabase
) -> None:
    with psycopg.connect(libpq_url(database.url), autocommit=True) as listener:
        listener.execute(f"LISTEN {APPENDED_CHANNEL}")
        store.append("entity/openai", [registered()])
        store.append("entity/openai", [valuation(str(i)) for i in range(_FUNCTION_MAX_EVENTS + 1)])
        received = list(listener.notifies(timeout=10, stop_after=2))
    assert [n.channel for n in received] == [APPENDED_CHANNEL] * 2
