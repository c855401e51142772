"""The ``ledger`` command against a real PostgreSQL: digests, verification, migrations, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import text

from ledger.store import EventStore
from ledger.store.migrate import head_revision
from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger
from tests.factories import registered, valuation


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url)


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    store.append("entity/openai", [registered(), valuation("157000000000"), valuation()])
    return store


def test_head_prints_the_digest_position_colon_hash(filled: EventStore, env: dict) -> None:
    result = run_ledger("head", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(filled.head().digest)


def test_head_as_json_includes_when_it_was_recorded(filled: EventStore, env: dict) -> None:
    result = run_ledger("head", "--json", env=env)
    head = json.loads(result.stdout)
    assert head["position"] == 3 and head["hash"] == filled.head().hash
    assert head["recorded_at"].endswith("+00:00")


def test_verify_reports_an_intact_chain(filled: EventStore, env: dict) -> None:
    result = run_ledger("verify", env=env)
    assert result.returncode == 0
    assert "chain verified: 3 events" in result.stdout


def test_verify_names_the_first_broken_position_and_fails(
    filled: EventStore, env: dict, database: TestDatabase
) -> None:
    with database.owner_engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE events SET type = 'EntityRenamed' WHERE position = 2"))
    result = run_ledger("verify", env=env)
    assert result.returncode == 1
    assert "chain breaks at position 2" in result.stdout


def test_verify_proves_an_earlier_digest(filled: EventStore, env: dict) -> None:
    kept = run_ledger("head", env=env).stdout.strip()
    filled.append("entity/openai", [valuation("1")])
    result = run_ledger("verify", "--digest", kept, env=env)
    assert result.returncode == 0
    assert f"digest {kept} is part of this ledger" in result.stdout


def test_verify_fails_for_a_digest_the_ledger_does_not_contain(
    filled: EventStore, env: dict
) -> None:
    result = run_ledger("verify", "--digest", "2:" + "e" * 64, env=env)
    assert result.returncode == 1
    assert "is NOT part of this ledger" in result.stdout


def test_a_malformed_digest_is_a_usage_error_naming_the_format(env: dict, database) -> None:
    result = run_ledger("verify", "--digest", "yesterday", env=env)
    assert result.returncode == 2
    assert "digest: expected POSITION:HASH" in result.stderr


def test_db_current_shows_the_revision(env: dict) -> None:
    result = run_ledger("db", "current", env=env)
    assert result.returncode == 0
    assert f"current: {head_revision()}" in result.stdout


def test_db_upgrade_and_downgrade_an_empty_database(empty_database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=empty_database.libpq_url)
    assert run_ledger("head", env=env).returncode == 1  # no schema yet, and not migrated silently
    up = run_ledger("db", "upgrade", env=env)
    assert up.returncode == 0 and f"revision {head_revision()}" in up.stdout
    assert run_ledger("head", env=env).stdout.startswith("0:")
    down = run_ledger("db", "downgrade", "base", env=env)
    assert down.returncode == 0 and "revision base" in down.stdout


def test_a_command_on_an_unmigrated_database_says_to_upgrade(empty_database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=empty_database.libpq_url)
    result = run_ledger("head", env=env)
    assert result.returncode == 1
    assert "run `ledger db upgrade`" in result.stderr


def test_db_downgrade_refuses_to_drop_events(filled: EventStore, env: dict) -> None:
    result = run_ledger("db", "downgrade", "base", env=env)
    assert result.returncode == 1
    assert "holds 3 recorded events" in result.stderr
    assert run_ledger("head", env=env).stdout.startswith("3:")


def test_an_unreachable_server_is_reported_without_a_traceback() -> None:
    env = clean_env(LEDGER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing")
    result = run_ledger("head", env=env)
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_mistyped_setting_is_named() -> None:
    result = run_ledger("head", env=clean_env(LEDGER_DATABSE_URL="postgresql://x/y"))
    assert result.returncode == 2
    assert "LEDGER_DATABSE_URL" in result.stderr


def test_projections_status_shows_the_lag_and_run_catches_up(filled: EventStore, env: dict) -> None:
    before = json.loads(run_ledger("projections", "status", "--json", env=env).stdout)
    assert before == {"name": "read_models", "checkpoint": 0, "head": 3, "lag": 3}
    result = run_ledger("projections", "run", env=env)
    assert result.returncode == 0, result.stderr
    assert "applied 3 events" in result.stdout
    after = run_ledger("projections", "status", env=env)
    assert "checkpoint 3, head 3, lag 0 events" in after.stdout


def _commands(help_text: str) -> list[str]:
    """The command names a click ``--help`` lists under "Commands:"."""
    listed = help_text.split("\nCommands:\n", 1)[1]
    return [line.split()[0] for line in listed.splitlines() if line.startswith("  ")]


def test_python_dash_m_ledger_cli_offers_every_command_of_the_ledger_script() -> None:
    env = clean_env()
    script = run_ledger("--help", env=env)
    module = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0 and module.returncode == 0, module.stderr
    commands = _commands(script.stdout)
    assert {"serve", "db", "keys", "projections", "synth", "replay"} <= set(commands)
    assert _commands(module.stdout) == commands


def test_python_dash_m_ledger_cli_keys_help_works() -> None:
    # a bug: the __main__ guard sat mid-module, so `python -m` lacked the later groups
    result = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "keys", "--help"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "API keys for the HTTP API" in result.stdout
    assert {"create", "list", "revoke"} <= set(_commands(result.stdout))
