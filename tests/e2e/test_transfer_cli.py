"""`ledger import`, `export`, `restore` and `seed` as a user runs them, pipes included."""

from __future__ import annotations

import subprocess

from tests.conftest import TestDatabase
from tests.e2e.processes import LEDGER, clean_env, run_ledger


def test_export_piped_into_restore_gives_the_same_head(
    database: TestDatabase, second_database: TestDatabase
) -> None:
    source = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=source).returncode == 0
    target = clean_env(LEDGER_DATABASE_URL=second_database.libpq_url)
    exporter = subprocess.Popen([LEDGER, "export"], env=source, stdout=subprocess.PIPE)
    restored = subprocess.run(
        [LEDGER, "restore", "-"], env=target, stdin=exporter.stdout, capture_output=True, text=True
    )
    assert exporter.wait() == 0
    assert restored.returncode == 0, restored.stderr
    head = run_ledger("head", env=source).stdout
    assert run_ledger("head", env=target).stdout == head
    assert f"head {head.strip()}" in restored.stdout
    assert run_ledger("verify", env=target).returncode == 0


def test_import_reports_refused_lines_with_numbers_and_fails(
    database: TestDatabase, tmp_path
) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"type": "EntityRegistered", "effective_at": "2015-12-11", '
        '"data": {"entity_id": "openai", "name": "OpenAI", "kind": "company"}, '
        '"source": "https://openai.com"}\n'
        '{"type": "EntityRegistered", "effective_at": "2015-12-11", '
        '"data": {"entity_id": "Nvidia", "name": "Nvidia", "kind": "company"}, '
        '"source": "https://nvidia.com"}\n'
    )
    result = run_ledger("import", str(events), env=env)
    assert result.returncode == 1
    assert "import: 1 event written into 1 stream " in result.stdout
    assert "line 2: data.entity_id: must be a lowercase slug" in result.stderr
    assert run_ledger("head", env=env).stdout.startswith("1:")


def test_seed_twice_writes_once(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    first = run_ledger("seed", env=env)
    second = run_ledger("seed", env=env)
    assert first.returncode == second.returncode == 0
    assert "0 events written" in second.stdout and "0 refused" in second.stdout
