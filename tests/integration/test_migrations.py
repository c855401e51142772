"""The schema belongs to Alembic: upgrade creates it, downgrade removes it only when nothing is lost."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from ledger.store import EventStore, migrate
from tests.conftest import TestDatabase
from tests.factories import registered

COLUMNS = {
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
    "hash",
}


def test_upgrade_creates_the_events_table_with_its_columns(empty_database: TestDatabase) -> None:
    engine = empty_database.owner_engine
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    columns = {c["name"] for c in inspect(engine).get_columns("events")}
    assert columns == COLUMNS


def test_upgrade_twice_is_harmless(empty_database: TestDatabase) -> None:
    migrate.upgrade(empty_database.owner_engine)
    migrate.upgrade(empty_database.owner_engine)
    assert migrate.current_revision(empty_database.owner_engine) == migrate.head_revision()


def test_downgrade_of_an_empty_ledger_removes_the_schema(empty_database: TestDatabase) -> None:
    engine = empty_database.owner_engine
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not inspect(engine).has_table("events")
    migrate.upgrade(engine)
    assert inspect(engine).has_table("events")


def test_downgrade_refuses_to_drop_recorded_events(database: TestDatabase) -> None:
    EventStore(database.app_engine).append("entity/openai", [registered()])
    with pytest.raises(DBAPIError) as info:
        migrate.downgrade(database.owner_engine, "base")
    assert "holds 1 recorded events" in str(info.value.orig)
    with database.owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
    assert migrate.current_revision(database.owner_engine) == migrate.head_revision()
