"""The README's first command: `ledger serve` on the embedded default, and on a named server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ledger.store import EventStore
from ledger.store.embedded import EmbeddedPostgres
from ledger.store.engine import make_engine
from ledger.transfer.seed import seed_path
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.factories import registered

SEED_EVENTS = sum(1 for line in seed_path().open() if line.strip())


def test_serve_on_the_embedded_default_answers_with_migrations_applied_and_the_seed_loaded(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with Server(clean_env(LEDGER_DATA_DIR=str(data_dir))) as server:
        assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 200
        assert ready.json()["head"]["position"] == SEED_EVENTS  # the deal web, loaded once
        pgdata = data_dir / "pg18"
        assert (pgdata / "postmaster.pid").exists()
        assert server.stop() == 0
    # Stopped cleanly: the embedded PostgreSQL went down with the service.
    assert not (pgdata / "postmaster.pid").exists()


def test_the_embedded_data_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Server(clean_env(LEDGER_DATA_DIR=str(data_dir))) as server:
        server.stop()
    with EmbeddedPostgres(data_dir) as embedded:
        engine = make_engine(embedded.app_url("ledger_app"), app_role="ledger_app")
        EventStore(engine).append("entity/openai", [registered()])
        engine.dispose()
    with Server(clean_env(LEDGER_DATA_DIR=str(data_dir))) as server:
        # the seed was not loaded twice; the event appended in between is there
        assert httpx.get(f"{server.url}/ready").json()["head"]["position"] == SEED_EVENTS + 1


def test_with_a_database_url_the_service_never_starts_its_own_server(
    tmp_path: Path, database: TestDatabase
) -> None:
    data_dir = tmp_path / "unused"
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_DATA_DIR=str(data_dir))
    with Server(env) as server:
        assert httpx.get(f"{server.url}/ready").json()["status"] == "ready"
    assert not data_dir.exists()


def test_ready_reports_an_unmigrated_database_as_unavailable(
    empty_database: TestDatabase,
) -> None:
    env = clean_env(LEDGER_DATABASE_URL=empty_database.libpq_url)
    from tests.e2e.processes import run_ledger

    result = run_ledger("serve", "--port", "1", env=env, timeout=60)
    assert result.returncode == 1
    assert "run `ledger db upgrade`" in result.stderr


def test_the_service_projects_events_appended_while_it_runs(
    database: TestDatabase, store: EventStore
) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    with Server(env) as server:
        store.append("entity/openai", [registered()])
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"{server.url}/ready").json())["projections"]["read_models"][
            "lag"
        ]:
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert ready["projections"]["read_models"]["checkpoint"] == 1
