"""Docs that work when followed: the worked example of docs/semantics.md runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_the_worked_example_of_the_semantics_prints_what_the_page_says(
    database: TestDatabase,
) -> None:
    (script,) = python_blocks(DOCS / "semantics.md")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(LEDGER_DATABASE_URL=database.libpq_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "edges on 2025-08-31: 0" in out
    assert "('nvidia', 'openai'): Decimal('100000000000')" in out
    assert "Cycle(entities=('nvidia', 'openai'), amount_usd=Decimal('0'))" in out
    assert "as believed before 0\n" in out
    assert "as known now 10000000000\n" in out


README = DOCS.parent / "README.md"


def test_the_readme_first_query_answers_what_the_readme_shows(database: TestDatabase) -> None:
    """The newcomer's path: a service with the seed loaded, the README's curl, its answer."""
    import json
    import shlex

    import httpx

    from tests.e2e.processes import Server

    text = README.read_text()
    section = text[text.index("## First query") :]
    command = re.search(r"```sh\n(curl .*?)\n```", section, flags=re.DOTALL).group(1)
    shown = json.loads(re.search(r"```json\n(.*?)```", section, flags=re.DOTALL).group(1))
    argv = shlex.split(command)
    body = argv[argv.index("-d") + 1]
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true")
    with Server(env) as server:
        answer = httpx.post(
            f"{server.url}/graphql", content=body, headers={"content-type": "application/json"}
        )
    assert answer.json() == shown
