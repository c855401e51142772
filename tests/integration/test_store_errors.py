"""The store answers in the core's error types, whatever the driver raised underneath."""

from __future__ import annotations

import psycopg
import pytest

from ledger.commands import Commands
from ledger.domain.errors import DatabaseUnavailable, InvalidInput, ValidationError
from ledger.store import EventStore
from ledger.store.engine import make_engine
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import SOURCE, registered

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"


def test_a_value_postgresql_cannot_hold_is_invalid_input(store: EventStore) -> None:
    with pytest.raises(InvalidInput) as info:
        store.find(actor="an\x00actor")
    assert isinstance(info.value, ValidationError)  # the edges' "bad argument"
    assert "NUL" in info.value.reason


def test_an_unreachable_database_is_unavailable_to_reads_appends_and_commands() -> None:
    engine = make_engine(UNREACHABLE, pool_size=1)
    store = EventStore(engine)
    try:
        with pytest.raises(DatabaseUnavailable, match="cannot reach the database"):
            store.head()
        with pytest.raises(DatabaseUnavailable, match="cannot reach the database") as info:
            store.append("entity/openai", [registered()])
        assert "sqlalchemy" not in str(info.value) and "OperationalError" not in str(info.value)
        with pytest.raises(DatabaseUnavailable):
            Commands(store).register_entity(
                entity_id="openai",
                name="OpenAI",
                kind="company",
                effective_at="2025-01-01T00:00:00Z",
                source=SOURCE,
            )
    finally:
        engine.dispose()


def test_a_cancelled_statement_is_unavailable_not_a_driver_error(database: TestDatabase) -> None:
    engine = make_engine(database.url, app_role=APP_ROLE, statement_timeout_ms=200)
    store = EventStore(engine)
    try:
        with psycopg.connect(database.libpq_url) as holder:
            holder.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # held until rollback
            with pytest.raises(DatabaseUnavailable, match="cancelled the statement"):
                store.read_stream("entity/openai")
            with pytest.raises(DatabaseUnavailable, match="cancelled the statement"):
                store.append("entity/openai", [registered()])
            holder.rollback()
        assert store.append("entity/openai", [registered()])[0].position == 1
    finally:
        engine.dispose()
