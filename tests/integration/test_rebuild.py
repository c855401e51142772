"""Rebuilding the read models: fresh tables from position 0, swapped in while queries go on."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from ledger import queries
from ledger.projections.digest import digest
from ledger.projections.projector import Projector
from ledger.projections.rebuild import REBUILD_LOCK_KEY, RebuildInProgress, rebuild
from ledger.store import EventStore
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import fill, valuation

NOW = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def projector(database: TestDatabase, store: EventStore) -> Projector:
    return Projector(database.app_engine, store)


def index_names(database: TestDatabase) -> set[tuple[str, str]]:
    with database.owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename, indexname FROM pg_indexes "
                "WHERE schemaname = 'public' AND tablename <> 'events'"
            )
        )
        return {tuple(row) for row in rows}


def test_a_rebuild_of_an_empty_ledger_leaves_empty_read_models(
    database: TestDatabase, projector: Projector
) -> None:
    kept = digest(database.app_engine)
    result = rebuild(database.owner_engine, app_role=APP_ROLE)
    assert result.events == 0
    assert digest(database.app_engine) == kept


def test_a_rebuild_reports_progress_and_catches_up_to_the_head(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    fill(store, entities=10, valuations=20, deals=30)
    seen: list[tuple[int, int]] = []
    result = rebuild(
        database.owner_engine, app_role=APP_ROLE, chunk=50, progress=lambda *p: seen.append(p)
    )
    head = store.head().position
    assert result.events == head
    assert seen[-1] == (head, head)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(seen) > head // 50
    assert projector.status().lag == 0


def test_events_appended_during_a_rebuild_are_in_the_tables_swapped_in(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    fill(store, entities=5, valuations=10, deals=5)
    appended = []

    def append_once(done: int, total: int) -> None:
        if not appended:
            appended.extend(store.append("entity/e0", [valuation("7", "e0")]))

    rebuild(database.owner_engine, app_role=APP_ROLE, chunk=10, progress=append_once)
    assert projector.status().lag == 0
    graph = queries.graph(database.app_engine, NOW, NOW)
    assert graph.nodes["e0"].valuation_usd == 7


def test_a_rebuild_keeps_index_names_grants_and_foreign_keys(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    fill(store, entities=4, valuations=2, deals=4)
    projector.run_once()
    before = index_names(database)
    rebuild(database.owner_engine, app_role=APP_ROLE)
    assert index_names(database) == before
    with database.owner_engine.connect() as conn:
        fks = conn.execute(
            text(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'public.rm_deal_legs'::regclass"
            )
        ).scalar_one()
        leftovers = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ledger_%'")
        ).scalar_one()
    assert fks == 1 and leftovers == 0
    # The service role still reads and projects the swapped-in tables.
    store.append("entity/e1", [valuation("9", "e1")])
    assert projector.run_once() == 1
    assert queries.graph(database.app_engine, NOW, NOW).nodes["e1"].valuation_usd == 9


def test_a_second_rebuild_at_the_same_time_is_refused(database: TestDatabase) -> None:
    with database.owner_engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": REBUILD_LOCK_KEY})
        with pytest.raises(RebuildInProgress, match="another rebuild"):
            rebuild(database.owner_engine, app_role=APP_ROLE)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": REBUILD_LOCK_KEY})


def test_queries_keep_answering_the_same_during_a_rebuild(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    fill(store, entities=30, valuations=100, deals=300)
    projector.run_once()
    expected = queries.graph(database.app_engine, NOW, NOW)
    answers: list[object] = []
    errors: list[BaseException] = []
    done = threading.Event()
    progressed = threading.Event()

    def query_until_done() -> None:
        try:
            while not done.is_set():
                answers.append(queries.graph(database.app_engine, NOW, NOW))
                progressed.set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            progressed.set()

    reader = threading.Thread(target=query_until_done)
    reader.start()
    progressed.wait(30)
    try:
        # Each chunk waits for a fresh answer, so queries interleave with the whole rebuild.
        def between_chunks(done_: int, total: int) -> None:
            progressed.clear()
            progressed.wait(30)

        rebuild(database.owner_engine, app_role=APP_ROLE, chunk=1000, progress=between_chunks)
        progressed.clear()
        progressed.wait(30)  # and at least one answer from the swapped-in tables
    finally:
        done.set()
        reader.join()
    assert not errors
    assert len(answers) >= store.head().position // 1000
    assert all(answer == expected for answer in answers)
