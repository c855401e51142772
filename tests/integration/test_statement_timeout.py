"""No single statement of the service can hold the server: a statement timeout applies."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from ledger.runtime import open_ledger
from ledger.settings import Settings
from tests.conftest import TestDatabase


def test_the_service_cancels_a_statement_that_runs_past_its_timeout(
    database: TestDatabase,
) -> None:
    settings = Settings(database_url=database.url, statement_timeout_ms=200)
    with (
        open_ledger(settings) as ledger,
        ledger.engine.connect() as conn,
        pytest.raises(OperationalError, match="statement timeout"),
    ):
        conn.exec_driver_sql("SELECT pg_sleep(2)")
