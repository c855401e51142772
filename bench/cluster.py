"""Reads from standbys and appends with a synchronous standby, beside one server, same run.

    python bench/cluster.py [--events 20000] [--entities 500] [--clients 8] [--seconds 15]
                            [--appends 400]

1. A pg_auto_failover formation (a monitor, a primary and a synchronous standby, PostgreSQL
   15) is built on loopback, as the cluster suite builds it (``tests/cluster/formation.py``),
   and ``ledger synth`` records a synthetic web into it.
2. Read throughput: ``--clients`` threads ask an entity's exposures (a random entity, the
   default ``asOf`` and ``knownAt``, so every answer takes a fresh basis) for ``--seconds``
   through real ``ledger serve`` processes, in four shapes: one service reading on the
   primary (one service on one server: the reference), one service reading on the standby,
   two services reading on the standby, two services of which one reads on the primary and
   one on the standby (queries spread over both).
3. Append latency: ``--appends`` single-event appends by one writer through the store, with
   the synchronous standby (``synchronous_commit = on``, the ledger's default: acknowledged
   once the standby has flushed it) beside the same primary with ``synchronous_commit =
   local`` (not waiting for the standby).

Everything runs on one machine: services, both PostgreSQL nodes and the clients share its
cores, so the figures say what reading on a standby costs, not how far it scales.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT,):
    while str(path) in sys.path:
        sys.path.remove(str(path))
    sys.path.insert(0, str(path))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from ledger.domain.envelope import NewEvent  # noqa: E402
from ledger.store.engine import make_engine  # noqa: E402
from ledger.store.event_store import EventStore  # noqa: E402
from tests.cluster.conftest import _free_ports  # noqa: E402
from tests.cluster.formation import Formation, available  # noqa: E402
from tests.e2e.processes import Server, clean_env, run_ledger  # noqa: E402

QUERY = """query($id: ID!) { entity(id: $id) { id valuationUsd
  exposures { totalOutUsd totalInUsd outgoing { amountUsd to { id } } } } }"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load(urls: list[str], key: str, ids: list[str], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal errors
        rng = random.Random(n)
        with httpx.Client(
            base_url=urls[n % len(urls)], headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = http.post(
                    "/graphql", json={"query": QUERY, "variables": {"id": rng.choice(ids)}}
                )
                took = time.perf_counter() - started
                ok = response.status_code == 200 and "errors" not in response.json()
                with lock:
                    if ok:
                        latencies.append(took)
                    else:
                        errors += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "errors": errors,
    }


def appends(url: str, count: int) -> dict[str, Any]:
    """One writer, single-event appends to one stream (the store's path, as bench/append.py
    measures it)."""
    store = EventStore(make_engine(url, pool_size=1))
    entity = f"bench-{uuid.uuid4().hex[:8]}"
    times = []
    for version in range(count):
        event = NewEvent(
            type="ValuationReported",
            data={"entity_id": entity, "valuation_usd": str(1000 + version), "basis": "estimate"},
            effective_at="2025-03-31T00:00:00Z",
            source={"url": "https://example.com/valuation", "title": "Valuation report"},
        )
        started = time.perf_counter()
        store.append(f"entity/{entity}", event, expected_version=version)
        times.append(time.perf_counter() - started)
    store.engine.dispose()
    times = times[count // 10 :]  # the first connection and caches warm up
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(percentile(times, 99) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--entities", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--appends", type=int, default=400)
    args = parser.parse_args(argv)
    why = available()
    if why:
        print(f"cannot build a formation here: {why}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="ledger-bench-cluster-", dir="/tmp"))
    formation = Formation(root, _free_ports(4))
    results: dict[str, Any] = {"args": vars(args)}
    try:
        started = time.monotonic()
        formation.start()
        results["formation_seconds"] = round(time.monotonic() - started, 1)
        primary, (standby,) = formation.primary(), formation.standbys()
        write, read = formation.write_url(), formation.read_url()
        env = clean_env(
            LEDGER_DATABASE_URL=write, LEDGER_MIGRATE_ON_START="true", LEDGER_SEED="false"
        )
        for step in (
            ("db", "upgrade"),
            (
                "synth",
                "--events",
                str(args.events),
                "--entities",
                str(args.entities),
                "--seed",
                "1",
            ),
            ("projections", "run"),
        ):
            done = run_ledger(*step, env=env, timeout=1800)
            assert done.returncode == 0, done.stderr
        key = run_ledger("keys", "create", "--role", "writer", env=env).stdout.strip()
        with psycopg.connect(primary.url) as conn:
            ids = [r[0] for r in conn.execute("SELECT DISTINCT entity_id FROM rm_entities")]
        print(
            f"formation in {results['formation_seconds']} s; {args.events} events, {len(ids)} entities"
        )

        on_primary = env
        on_standby = env | {"LEDGER_READ_DATABASE_URL": read}
        shapes = {
            "one service, reads on the primary (reference)": [on_primary],
            "one service, reads on the standby": [on_standby],
            "two services, reads on the standby": [on_standby, on_standby],
            "two services, one on the primary and one on the standby": [on_primary, on_standby],
        }
        results["reads"] = {}
        for name, envs in shapes.items():
            servers = [Server(e).start() for e in envs]
            try:
                load([s.url for s in servers], key, ids, args.clients, 2)  # warm up
                figures = load([s.url for s in servers], key, ids, args.clients, args.seconds)
            finally:
                for s in servers:
                    s.stop()
            results["reads"][name] = figures
            print(f"{name:58s} {figures}")

        local = primary.url + "?options=-c%20synchronous_commit%3Dlocal"
        results["appends"] = {
            "with the synchronous standby (synchronous_commit=on)": appends(
                primary.url, args.appends
            ),
            "without waiting for it (synchronous_commit=local)": appends(local, args.appends),
        }
        for name, figures in results["appends"].items():
            print(f"append {name:55s} {figures}")
        print(f"standby: {standby.name}")
    finally:
        formation.stop()
        shutil.rmtree(root, ignore_errors=True)
    out = ROOT / "bench" / "results" / "cluster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
