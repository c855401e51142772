"""The README's first command as a new user runs it: ``pip install .`` (no test extras) in a
fresh venv, then ``ledger serve`` on the embedded default. Subscriptions must work there too:
without a websocket library uvicorn answers every upgrade on ``/graphql`` with HTTP 400."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env

ROOT = Path(__file__).resolve().parents[2]
# What `pip install .` needs, as the Dockerfile copies it (pyproject names README.md).
SOURCES = ("pyproject.toml", "README.md", "ledger", "api", "migrations")


def _installed_env(**variables: str) -> dict[str, str]:
    env = clean_env(**variables)
    env.pop("PYTHONPATH", None)  # the installed copy, not this checkout
    return env


def _plain_install(tmp_path: Path) -> Path:
    """A copy of the sources installed with ``pip install .`` into a venv of its own; its bin."""
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv / "bin"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plain install for this module's tests: the venv's bin directory."""
    return _plain_install(tmp_path_factory.mktemp("plain"))


@pytest.mark.slow
def test_after_the_readmes_plain_install_a_subscription_receives_events(
    plain: Path, tmp_path: Path
) -> None:
    bin_dir = plain
    # No test extras: none of what they bring is importable, and the app is the installed copy.
    probe = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.util as u, api; "
            "print(u.find_spec('gql') is None, u.find_spec('pytest') is None, api.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_installed_env(),
        check=True,
    )
    no_gql, no_pytest, api_file = probe.stdout.split()
    assert (no_gql, no_pytest) == ("True", "True")
    assert api_file.startswith(str(bin_dir.parent))

    env = _installed_env(LEDGER_DATA_DIR=str(tmp_path / "data"))
    with Server(env, executable=str(bin_dir / "ledger")) as server:
        transport = WebsocketsTransport(
            url=server.url.replace("http://", "ws://") + "/graphql",
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )

        async def first_event() -> dict:
            async with Client(transport=transport) as session:
                stream = session.subscribe(
                    GraphQLRequest(
                        "subscription { eventRecorded(afterPosition: 0) { position type } }"
                    )
                )
                result = await asyncio.wait_for(stream.__anext__(), timeout=60)
                await stream.aclose()
                return result["eventRecorded"]

        # The embedded ledger starts with the deal web: its first event is pushed at once.
        assert asyncio.run(first_event()) == {"position": 1, "type": "EntityRegistered"}
        assert server.stop() == 0


@pytest.mark.slow
def test_report_plot_on_the_plain_install_says_what_to_install(
    plain: Path, database: TestDatabase, tmp_path: Path
) -> None:
    """matplotlib lives in the ``plot`` extra: the plain install says so, exit 2, no traceback."""
    env = _installed_env(LEDGER_DATABASE_URL=database.libpq_url)
    result = subprocess.run(
        [str(plain / "ledger"), "report", "--as-of", "2025-10-31", "--plot", "graph.png"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "pip install 'deal-ledger[plot]'" in result.stderr
    assert not (tmp_path / "graph.png").exists()
