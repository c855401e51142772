"""`ledger report` on the bundled deal web: tables, Markdown, JSON and a plot."""

from __future__ import annotations

import json

import pytest

from ledger.transfer.seed import seed_path
from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger

SEED_EVENTS = sum(1 for line in seed_path().open() if line.strip())


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    seeded = run_ledger("seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    return env


def test_the_json_report_gives_exact_exposures_cycles_and_changes(env: dict[str, str]) -> None:
    result = run_ledger(
        "report", "--as-of", "2025-10-31", "--since", "2025-08-31", "--format", "json", env=env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["as_of"] == "2025-10-31T00:00:00Z" and report["since"] == "2025-08-31T00:00:00Z"
    nvidia = next(
        r for r in report["exposures"] if (r["exposed"], r["counterparty"]) == ("nvidia", "openai")
    )
    assert nvidia["amount_usd"] == "100000000000"
    assert any(set(c["entities"]) == {"nvidia", "openai"} for c in report["cycles"])
    openai = next(r for r in report["entities"] if r["entity_id"] == "openai")
    assert openai["valuation_usd"] == "500000000000"
    new = next(
        c for c in report["changes"] if (c["exposed"], c["counterparty"]) == ("nvidia", "openai")
    )
    assert (new["before_usd"], new["after_usd"]) == ("0", "100000000000")


def test_the_markdown_report_has_a_table_per_section(env: dict[str, str]) -> None:
    result = run_ledger("report", "--as-of", "2025-10-31", "--format", "markdown", env=env)
    assert result.returncode == 0, result.stderr
    for heading in ("## Largest exposures", "## Circular flows", "## Entities"):
        assert heading in result.stdout
    assert "| nvidia | openai | $100.0B |" in result.stdout


def test_the_report_knows_what_the_ledger_knew_before(env: dict[str, str]) -> None:
    result = run_ledger(
        "report", "--as-of", "2025-10-31", "--known-at", "2000-01-01", "--format", "json", env=env
    )
    assert json.loads(result.stdout)["exposures"] == []


def test_the_report_at_a_position_is_what_the_ledger_said_at_that_prefix(
    env: dict[str, str],
) -> None:
    def exposures(*args: str) -> list[dict[str, str]]:
        result = run_ledger("report", "--as-of", "2025-10-31", "--format", "json", *args, env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["exposures"]

    assert exposures("--at-position", "0") == []
    everything = exposures()
    assert exposures("--at-position", str(SEED_EVENTS)) == everything  # the whole seed
    assert exposures("--at-position", "40") != everything
    too_far = run_ledger("report", "--as-of", "2025-10-31", "--at-position", "99999", env=env)
    assert too_far.returncode != 0 and "99999" in too_far.stderr


def test_the_plot_is_a_png(env: dict[str, str], tmp_path) -> None:
    target = tmp_path / "web.png"
    result = run_ledger("report", "--as-of", "2025-10-31", "--plot", str(target), env=env)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Largest exposures" in result.stdout


def test_a_bad_date_is_named(env: dict[str, str]) -> None:
    result = run_ledger("report", "--as-of", "2025-13-45", env=env)
    assert result.returncode == 2
    assert "'2025-13-45' is not an ISO-8601 date" in result.stderr
