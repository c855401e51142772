"""Docs that work when followed: the worked example of docs/semantics.md and the curls of
docs/api.md run as written, on an empty ledger and on the seeded one the README's first
command leaves."""

from __future__ import annotations

import json
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
    assert "exposure on 2025-10-31: 100000000000\n" in out
    assert "Cycle(entities=('chipco', 'labco'), amount_usd=Decimal('0'))" in out
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


def seeded(database: TestDatabase) -> dict[str, str]:
    """The ledger the README's first command leaves: the service has started once, seeded."""
    from tests.e2e.processes import Server

    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true")
    with Server(env):
        pass
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url)


def test_the_worked_example_runs_as_written_on_the_seeded_ledger_and_once(
    database: TestDatabase,
) -> None:
    (script,) = python_blocks(DOCS / "semantics.md")
    env = seeded(database)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert "edges on 2025-08-31: 0\n" in first.stdout
    assert "exposure on 2025-10-31: 100000000000\n" in first.stdout
    assert "cycles: [Cycle(entities=('chipco', 'labco'), amount_usd=Decimal('0'))]" in first.stdout
    assert "as believed before 0\n" in first.stdout
    assert "as known now 10000000000\n" in first.stdout
    again = run()
    assert again.returncode == 1
    assert "recorded already: this example runs once per ledger" in again.stderr
    assert "Traceback" not in again.stderr


def curls(section: str) -> list[list[str]]:
    """The ``curl`` commands of a doc section's sh blocks, as argument lists."""
    import shlex

    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.startswith("curl ")]


def section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end != -1 else None]


def test_the_api_caching_and_compression_examples_answer_on_the_seeded_ledger(
    database: TestDatabase,
) -> None:
    """docs/api.md's curls, run as written (localhost:8000 pointed at the test's server)."""
    from tests.e2e.processes import Server

    api = DOCS / "api.md"
    (cached,) = curls(section(api, "## Caching of the past"))
    (compressed,) = curls(section(api, "## Compression and CORS"))
    with Server(seeded(database)) as server:
        port = str(server.port)

        def run(argv: list[str]) -> str:
            argv = [a.replace("localhost:8000", f"127.0.0.1:{port}") for a in argv]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
            return done.stdout

        answer = run(cached)
        head, _, body = answer.replace("\r\n", "\n").partition("\n\n")
        assert "cache-control: public, max-age=31536000, immutable" in head.lower()
        data = json.loads(body)
        assert "errors" not in data
        assert data["data"]["entity"]["valuationUsd"] is not None
        assert int(run(compressed).split()[0]) > 0
        # what the page says of a knownAt before the recording history starts
        early = [a.replace('knownAt: "2025-11-01"', 'knownAt: "2025-10-01"') for a in cached]
        assert early != cached
        body = run(early).replace("\r\n", "\n").partition("\n\n")[2]
        assert json.loads(body)["data"] == {"entity": None}
