"""Third-party JavaScript clients against ``ledger serve`` (issue 20): the ``graphql-http``
audit of the GraphQL-over-HTTP spec, and the ``graphql-ws`` client subscribing as a browser
does (the key in ``connectionParams``, no handshake headers).

The packages are pinned in ``tests/node/package-lock.json``; ``.ci/run`` installs them
(``npm ci --prefix tests/node``). Without them, or without Node, these tests are skipped
locally and fail in CI (``LEDGER_TEST_REQUIRE_NODE``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.e2e.test_graphql import create_key
from tests.e2e.test_subscriptions import append_elsewhere

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE = shutil.which("node")


@pytest.fixture(scope="module", autouse=True)
def node_clients() -> None:
    if NODE is None or not (NODE_DIR / "node_modules" / "graphql-http").is_dir():
        message = "the Node clients need node and `npm ci --prefix tests/node` (.ci/run does)"
        if os.environ.get("LEDGER_TEST_REQUIRE_NODE"):  # CI: missing clients are a failure
            pytest.fail(message)
        pytest.skip(message)


def node(script: str, *args: str) -> list[dict]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, script, *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_the_graphql_http_audit_passes_with_no_warnings_in_local_mode(
    database: TestDatabase,
) -> None:
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as server:
        results = node("audit.mjs", f"{server.url}/graphql")
    assert len(results) >= 50  # graphql-http 1.22's server audits
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not not_ok, json.dumps(not_ok, indent=1)


def test_the_graphql_ws_client_subscribes_with_its_key_in_connection_params(
    database: TestDatabase,
) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")
    auditor = create_key(env, "auditor")
    reader = create_key(env, "reader")
    append_elsewhere(env, 40)
    with Server(env) as server:
        ws = server.url.replace("http://", "ws://") + "/graphql"
        events = node("subscribe.mjs", ws, auditor, "3")
        assert [e["position"] for e in events] == [1, 2, 3]
        forbidden = node("subscribe.mjs", ws, reader, "1")
        assert "auditor" in forbidden[0]["refused"]
        (anonymous,) = node("subscribe.mjs", ws, "", "1")
        assert "4403" in anonymous["refused"]
