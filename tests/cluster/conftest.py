"""The cluster suite: a real pg_auto_failover formation, real ``ledger serve`` processes.

One formation for the whole suite (building one takes ~20 s): tests never assume which node
is the primary, and each leaves the formation with a primary and a standby again.
``LEDGER_TEST_REQUIRE_CLUSTER=1`` (set by ``.ci/run``) turns a machine that cannot build one
into a failure rather than a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.formation import Formation, available
from tests.e2e.processes import Server, clean_env, run_ledger
from tests.e2e.test_consistency import Api


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for base in range(56000, 60000, 10):
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports for a formation")


@pytest.fixture(scope="session")
def formation() -> Iterator[Formation]:
    why = available()
    if why:
        if os.environ.get("LEDGER_TEST_REQUIRE_CLUSTER"):
            pytest.fail(why)
        pytest.skip(why)
    # Not under pytest's tmp dir: PostgreSQL runs as another user, which cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="ledger-cluster-", dir="/tmp"))
    built = Formation(root, _free_ports(4))
    try:
        yield built.start()
    finally:
        built.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_env(formation: Formation) -> dict[str, str]:
    return clean_env(
        LEDGER_DATABASE_URL=formation.write_url(),
        LEDGER_READ_DATABASE_URL=formation.read_url(),
        LEDGER_MIGRATE_ON_START="true",
        LEDGER_SEED="false",
        LEDGER_READ_WAIT_MS="3000",
    )


@pytest.fixture(scope="session")
def writer_key(cluster_env: dict[str, str]) -> str:
    migrated = run_ledger("db", "upgrade", env=cluster_env)
    assert migrated.returncode == 0, migrated.stderr
    created = run_ledger("keys", "create", "--role", "writer", env=cluster_env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture(scope="session")
def services(cluster_env: dict[str, str], writer_key: str) -> Iterator[tuple[Api, Api]]:
    """Two stateless services on the same formation, as behind a load balancer."""
    with Server(cluster_env) as a, Server(cluster_env) as b:
        apis = Api(a.url, writer_key), Api(b.url, writer_key)
        apis[0].server, apis[1].server = a, b  # type: ignore[attr-defined]
        try:
            yield apis
        finally:
            for name, server in (("A", a), ("B", b)):
                print(f"---- service {name} printed:\n" + "".join(server.output[-200:]))
