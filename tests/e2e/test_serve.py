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


def _postmaster(pgdata: Path) -> int | None:
    """The pid of the embedded PostgreSQL if it is running, else None."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None
    return pid if psutil.pid_exists(pid) else None


def test_after_sighup_and_sigkill_the_next_ctrl_c_still_stops_the_embedded_postgres(
    tmp_path: Path,
) -> None:
    """An unclean exit leaves its pid in the server's list of holders; the next start clears
    dead holders, so the README's "stops with it" holds again (issue 20, point 8)."""
    import signal

    data_dir = tmp_path / "data"
    pgdata = data_dir / "pg18"
    env = clean_env(LEDGER_DATA_DIR=str(data_dir))
    for unclean in (signal.SIGHUP, signal.SIGKILL):  # the terminal closed; kill -9
        server = Server(env).start()
        assert server.process is not None and _postmaster(pgdata) is not None
        server.process.send_signal(unclean)
        server.process.wait(timeout=60)
    # The SIGKILLed process could not stop it: PostgreSQL is still up, with a dead holder.
    left_running = _postmaster(pgdata)
    assert left_running is not None
    with Server(env) as server:
        assert httpx.get(f"{server.url}/ready").status_code == 200
        assert server.process is not None
        server.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert server.process.wait(timeout=60) == 0
    assert _postmaster(pgdata) is None
    assert not (pgdata / "postmaster.pid").exists()


def test_sighup_shuts_serve_down_gracefully_with_its_postgres(tmp_path: Path) -> None:
    import signal

    data_dir = tmp_path / "data"
    with Server(clean_env(LEDGER_DATA_DIR=str(data_dir))) as server:
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        assert server.process.wait(timeout=60) == 0
    assert _postmaster(data_dir / "pg18") is None
