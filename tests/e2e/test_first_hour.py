"""A new user's first hour: what the README and docs/operations.md promise of ``ledger config``,
``ledger synth``, ``ledger serve`` on a busy port and ``ledger db`` with a bad revision, run as
the real command against a real PostgreSQL (issue 20, points 10, 12, 13)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import psycopg

from ledger.transfer.seed import seed_path
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, free_port, run_ledger

SEED_EVENTS = sum(1 for line in seed_path().open() if line.strip())


def test_config_shows_each_value_and_its_source(tmp_path: Path) -> None:
    env = clean_env(LEDGER_DATA_DIR=str(tmp_path / "data"), LEDGER_PORT="8123")
    result = run_ledger("config", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "LEDGER_PORT=8123  (environment)" in lines
    assert "LEDGER_HOST=127.0.0.1  (default)" in lines
    assert "LEDGER_SEED=true  (default)" in lines  # embedded: the deal web is loaded on start
    assert "LEDGER_STATEMENT_TIMEOUT_MS=30000  (default)" in lines
    assert f"LEDGER_DATA_DIR={tmp_path / 'data'}  (environment)" in lines
    assert "not running now" in result.stdout


def test_config_hides_a_password_in_a_url(database: TestDatabase) -> None:
    url = database.libpq_url.replace("postgres@", "postgres:s3cret@")
    result = run_ledger("config", env=clean_env(LEDGER_DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout and "LEDGER_DATABASE_URL=postgresql://postgres:***@" in (
        result.stdout
    )


def test_config_prints_the_running_embedded_servers_url_for_pg_dump(tmp_path: Path) -> None:
    env = clean_env(LEDGER_DATA_DIR=str(tmp_path / "data"))
    with Server(env) as server:
        result = run_ledger("config", env=env)
        assert result.returncode == 0, result.stderr
        found = re.search(r"running; its URL \(the owner, a superuser\): (\S+)", result.stdout)
        assert found, result.stdout
        with psycopg.connect(found.group(1)) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None and row[0] == SEED_EVENTS
        assert server.stop() == 0


def test_synth_refuses_a_ledger_that_holds_events_unless_told(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=env).returncode == 0
    refused = run_ledger("synth", "--events", "60", "--entities", "5", env=env)
    assert refused.returncode == 2
    assert f"already holds {SEED_EVENTS} events" in refused.stderr
    assert "--into-nonempty" in refused.stderr and "Traceback" not in refused.stderr
    assert run_ledger("head", env=env).stdout.startswith(f"{SEED_EVENTS}:")
    told = run_ledger("synth", "--events", "60", "--entities", "5", "--into-nonempty", env=env)
    assert told.returncode == 0, told.stderr


def test_synth_writes_into_an_empty_ledger(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    result = run_ledger("synth", "--events", "60", "--entities", "5", env=env)
    assert result.returncode == 0, result.stderr


def test_serve_on_a_port_in_use_says_so_and_which_option_to_use(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_ledger("serve", "--port", str(port), env=env)
    assert result.returncode == 2
    assert f"port {port} is in use; use --port" in result.stderr
    output = result.stdout + result.stderr
    assert "deal ledger on" not in output  # no banner
    assert "{" not in output and "Traceback" not in output  # no JSON log line, no traceback


def test_db_downgrade_to_an_unknown_revision_is_a_clear_usage_error(
    database: TestDatabase,
) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    result = run_ledger("db", "downgrade", "nonsense", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "revision: 'nonsense': Can't locate revision" in result.stderr
