"""Gap-safe global order: a reader tailing by position never misses an event under concurrent writers."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.domain.errors import VersionConflict
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.factories import registered, valuation

WRITERS = 8
APPENDS_PER_WRITER = 60


def test_a_tailing_reader_sees_every_event_once_in_order_under_concurrent_writers(
    database: TestDatabase,
) -> None:
    writer_store = EventStore(database.app_engine)
    reader_store = EventStore(database.app_engine)
    acknowledged: list[list] = [[] for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            for i in range(APPENDS_PER_WRITER):
                # Overlapping streams and batch sizes of 1 to 5, so transactions of
                # different lengths race for the next positions.
                entity_id = f"shared-{rng.randrange(4)}"
                stream = f"entity/{entity_id}"
                batch = [valuation(str(i), entity_id) for _ in range(rng.randint(1, 5))]
                acknowledged[n].extend(e.event_id for e in writer_store.append(stream, batch))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    seen: list = []
    last = 0
    start.wait()
    writers_finished = False
    while True:
        batch = reader_store.read(after=last, limit=50)
        for event in batch:
            # Exactly the next position, every time: nothing skipped, nothing repeated.
            assert event.position == last + 1, f"reader skipped from {last} to {event.position}"
            last = event.position
            seen.append(event.event_id)
        if not batch:
            if writers_finished:
                break
            writers_finished = all(not t.is_alive() for t in threads)
    for t in threads:
        t.join()
    assert not errors, errors
    all_acknowledged = [e for events in acknowledged for e in events]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(all_acknowledged)
    assert writer_store.head().position == len(all_acknowledged)


def test_concurrent_commands_on_one_stream_conflict_cleanly_and_a_retry_succeeds(
    database: TestDatabase,
) -> None:
    store = EventStore(database.app_engine)
    store.append("entity/openai", [registered()], expected_version=0)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide_and_append() -> None:
        version = store.stream_version("entity/openai")  # both read version 1 ...
        barrier.wait()
        try:
            store.append("entity/openai", [valuation()], expected_version=version)
            outcomes.append("appended")
        except VersionConflict as conflict:
            outcomes.append("conflict")
            # ... and the loser retries against the version the conflict reported.
            store.append("entity/openai", [valuation()], expected_version=conflict.current)

    threads = [threading.Thread(target=decide_and_append) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["appended", "conflict"]
    assert [e.stream_version for e in store.read_stream("entity/openai")] == [1, 2, 3]


@pytest.mark.parametrize("size", [1, 150], ids=["function", "copy"])
def test_the_same_batch_appended_concurrently_is_recorded_once(
    store: EventStore, size: int
) -> None:
    # Clients that retry at once race each other: every one gets the one recorded batch back.
    batch = [valuation(str(i)) for i in range(size)]
    barrier = threading.Barrier(6)

    def append() -> list:
        barrier.wait()
        return store.append("entity/openai", batch)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: append(), range(6)))
    assert all(result == results[0] for result in results)
    assert [e.event_id for e in store.read(limit=1000)] == [e.event_id for e in batch]
