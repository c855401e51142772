"""`ledger replay`: the graph recomputed from the raw log, and --verify against the read models."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=env).returncode == 0
    assert run_ledger("projections", "run", env=env).returncode == 0
    return env


def test_replay_prints_the_graph_and_verifies_against_the_read_models(env: dict) -> None:
    result = run_ledger("replay", "--as-of", "2025-10-31", "--verify", env=env)
    assert result.returncode == 0, result.stderr
    assert "verified: the read models give the same graph, field by field" in result.stderr
    assert "nvidia → openai" in result.stdout and "$100.0B" in result.stdout


def test_verify_names_each_difference_and_fails(env: dict, database: TestDatabase) -> None:
    with database.owner_engine.begin() as conn:  # a read model goes wrong behind our back
        conn.execute(
            text(
                "UPDATE rm_valuations SET valuation_usd = 1 "
                "WHERE entity_id = 'openai' AND valuation_usd = 500000000000"
            )
        )
    result = run_ledger("replay", "--as-of", "2025-10-31", "--verify", env=env)
    assert result.returncode == 1
    assert "node openai.valuation_usd: replay Decimal('500000000000')" in result.stderr
    assert "read models Decimal('1" in result.stderr
    assert "differ from the replay in 1 places" in result.stderr


def test_until_position_replays_exactly_the_first_events(env: dict) -> None:
    result = run_ledger(
        "replay", "--as-of", "2030-01-01", "--until-position", "17", "--json", env=env
    )
    replayed = json.loads(result.stdout)
    assert replayed["events_read"] == 17 and replayed["edges"] == []
    first = [
        json.loads(x)
        for x in run_ledger("export", "--to-position", "17", env=env).stdout.splitlines()
    ]
    registered = {e["data"]["entity_id"] for e in first if e["type"] == "EntityRegistered"}
    assert set(replayed["nodes"]) == registered


def test_the_past_is_replayed_as_it_was_known(env: dict) -> None:
    result = run_ledger(
        "replay", "--as-of", "2025-10-31", "--known-at", "2000-01-01", "--json", env=env
    )
    assert json.loads(result.stdout)["events_read"] == 0


@pytest.mark.parametrize("position", [5, 17, 40])
def test_until_position_verifies_against_the_read_models_at_that_position(
    env: dict, position: int
) -> None:
    # The read models asked atPosition P (any P, even one inside a transaction's events), with
    # knownAt now or given: both bounds, the same answer as the replay of the prefix.
    for known_at in ([], ["--known-at", "2030-01-01"]):
        result = run_ledger(
            "replay", "--as-of", "2025-10-31", "--until-position", str(position), *known_at,
            "--verify", "--json", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "verified" in result.stderr
        assert json.loads(result.stdout)["events_read"] == position


def test_until_position_outside_the_log_is_refused(env: dict) -> None:
    for position in ("0", "-3"):
        result = run_ledger(
            "replay", "--as-of", "2025-10-31", "--until-position", position, env=env
        )
        assert result.returncode == 2
        assert "--until-position" in result.stderr and "x>=1" in result.stderr
    head = int(json.loads(run_ledger("projections", "status", "--json", env=env).stdout)["head"])
    result = run_ledger(
        "replay", "--as-of", "2025-10-31", "--until-position", str(head + 1), env=env
    )
    assert result.returncode == 2
    assert f"the ledger holds {head} events (positions 1..{head})" in result.stderr
