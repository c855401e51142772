"""The valid time the read models cover: a time slider's range, kept in one row."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from ledger import queries
from ledger.domain.views import Span
from ledger.projections.digest import digest
from ledger.projections.projector import Projector
from ledger.projections.rebuild import rebuild
from ledger.store import EventStore, migrate
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import announced, registered, valuation


def at(year: int, month: int = 1, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


@pytest.fixture
def projector(database: TestDatabase, store: EventStore) -> Projector:
    return Projector(database.app_engine, store)


def test_an_empty_ledger_has_no_span(database: TestDatabase, projector: Projector) -> None:
    projector.run_once()
    assert queries.span(database.app_engine) is None


def test_a_ledger_of_registrations_has_no_first_activity(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    store.append("entity/intel", [registered("intel", effective_at=at(1968, 7, 18))])
    projector.run_once()
    assert queries.span(database.app_engine) == Span(at(1968, 7, 18), None, at(1968, 7, 18))


def test_the_span_widens_with_each_projected_event_back_dated_ones_too(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    store.append("entity/intel", [registered("intel", effective_at=at(1968, 7, 18))])
    store.append("entity/openai", [registered("openai", effective_at=at(2015, 12, 11))])
    store.append("entity/nvidia", [registered("nvidia", effective_at=at(1993, 4, 5))])
    store.append("entity/openai", [valuation(effective_at=at(2025, 3, 31))])
    projector.run_once()
    assert queries.span(database.app_engine) == Span(
        at(1968, 7, 18), at(2025, 3, 31), at(2025, 3, 31)
    )

    store.append("deal/nvidia-openai", [announced("nvidia-openai")])  # 2025-09-22
    projector.run_once()
    assert queries.span(database.app_engine) == Span(
        at(1968, 7, 18), at(2025, 3, 31), at(2025, 9, 22)
    )

    store.append("entity/openai", [valuation(effective_at=at(2024, 10, 2))])  # recorded later
    projector.run_once()
    assert queries.span(database.app_engine) == Span(
        at(1968, 7, 18), at(2024, 10, 2), at(2025, 9, 22)
    )


def test_a_rebuild_gives_the_span_the_projector_kept(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    for event in (
        registered("openai", effective_at=at(2015, 12, 11)),
        valuation(effective_at=at(2025, 3, 31)),
        valuation(effective_at=at(2019, 7, 22)),
    ):  # a range per event, as a tailing projector meets them; the rebuild takes chunks
        store.append("entity/openai", [event])
        projector.run_once()
    kept = queries.span(database.app_engine)
    tables = digest(database.app_engine)
    rebuild(database.owner_engine, app_role=APP_ROLE, chunk=2)
    assert (
        queries.span(database.app_engine)
        == kept
        == Span(at(2015, 12, 11), at(2019, 7, 22), at(2025, 3, 31))
    )
    assert digest(database.app_engine)["rm_span"] == tables["rm_span"]


def test_the_migration_fills_the_span_of_what_was_already_projected(
    empty_database: TestDatabase,
) -> None:
    engine = empty_database.owner_engine
    migrate.upgrade(engine, "0008")
    store = EventStore(engine)
    store.append("entity/openai", [registered("openai", effective_at=at(2015, 12, 11))])
    store.append("entity/openai", [valuation(effective_at=at(2025, 3, 31))])
    with engine.begin() as conn:  # projected up to the first event only
        conn.execute(
            text("INSERT INTO projection_checkpoints (name, position) VALUES ('read_models', 1)")
        )
    migrate.upgrade(engine)
    assert queries.span(engine) == Span(at(2015, 12, 11), None, at(2015, 12, 11))
