"""What the Merkle tree costs and how fast its proofs are (issue 18's speed points).

    python bench/merkle.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
                           [--events N] [--single N] [--proofs N]

In a scratch database ``bench_merkle`` (created fresh, dropped at the end), as the service role:

1. **Maintenance beside the append.** ``--single`` single-event appends (``EventStore.append``,
   one event per transaction), each timed; after each, the tree grown by that one event
   (``ledger.store.tree.extend`` in a transaction of its own, as the projector runs it, or as
   the append's transaction would if the tree lived there) is timed too. Medians and p99.
2. **Building the tree of an existing ledger** of ``--events`` events (appended in batches of
   1,000): the migration's SQL build (``0011`` → ``0012``) and the Python build the projector
   and the rebuild use (``extend`` from an empty table), each timed.
3. **Proofs at that size.** ``--proofs`` inclusion proofs of random positions against the
   whole tree (one query each for their O(log n) nodes) and their verification
   (``verify_inclusion``, pure), p50 and p99; consistency proofs likewise.

Figures are printed and written as JSON to ``bench/results/merkle.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ledger.domain.envelope import NewEvent  # noqa: E402
from ledger.domain.merkle import (  # noqa: E402
    consistency_proof,
    event_leaf_hash,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.store import EventStore, migrate, tree  # noqa: E402
from ledger.store.engine import make_engine  # noqa: E402

DATABASE = "bench_merkle"
APP_ROLE = "ledger_app"


SOURCE = {"url": "https://example.com/bench", "title": "bench"}
EFFECTIVE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def registered(entity_id: str) -> NewEvent:
    data = {"entity_id": entity_id, "name": entity_id.title(), "kind": "company"}
    return NewEvent("EntityRegistered", data, EFFECTIVE, SOURCE)


def valuation(entity_id: str, amount: int) -> NewEvent:
    data = {"entity_id": entity_id, "valuation_usd": str(amount), "basis": "secondary_sale"}
    return NewEvent("ValuationReported", data, EFFECTIVE, SOURCE)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 4),
        "p99_ms": round(pct(values, 0.99) * 1000, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a superuser URL")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args(argv)
    admin_url = make_url(args.database_url).set(drivername="postgresql")
    with psycopg.connect(admin_url.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{DATABASE}"')
    url = admin_url.set(database=DATABASE).render_as_string(hide_password=False)
    owner = make_engine(url, pool_size=1)
    migrate.upgrade(owner, app_role=APP_ROLE)
    app = make_engine(url, app_role=APP_ROLE, pool_size=2)
    store = EventStore(app)
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    try:
        pooled = app.raw_connection()
        conn = pooled.driver_connection
        cur = conn.cursor()

        # 1. maintenance beside a single-event append
        appends, extends, commits = [], [], []
        for i in range(args.single):
            t0 = time.perf_counter()
            store.append(f"entity/s{i}", [registered(f"s{i}")], expected_version=0)
            t1 = time.perf_counter()
            tree.extend(cur, i + 1)
            t2 = time.perf_counter()
            conn.commit()
            t3 = time.perf_counter()
            appends.append(t1 - t0)
            extends.append(t2 - t1)
            commits.append(t3 - t2)
        results["single_append"] = ms(appends)
        results["tree_extend_one_event"] = ms(extends)
        results["tree_commit_of_its_own"] = ms(commits)
        results["extend_over_append_p50"] = round(
            statistics.median(extends) / statistics.median(appends), 3
        )
        print("single-event append", results["single_append"])
        print("tree grown by that event", results["tree_extend_one_event"])
        print("its commit, if it had one of its own", results["tree_commit_of_its_own"])
        print("ratio (p50)", results["extend_over_append_p50"])

        # 2. building the tree of an existing ledger
        t0 = time.perf_counter()
        n = args.single
        while n < args.events:
            k = min(1000, args.events - n)
            entity = f"b{n}"
            batch = [registered(entity)] + [valuation(entity, 10**9 + j) for j in range(k - 1)]
            store.append(f"entity/{entity}", batch, expected_version=0)
            n += k
        results["appended_events"] = n
        results["append_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"appended {n} events in {results['append_seconds']} s")
        t0 = time.perf_counter()
        migrate.downgrade(owner, "0011", app_role=APP_ROLE)
        t1 = time.perf_counter()
        migrate.upgrade(owner, app_role=APP_ROLE)
        results["migration_build_seconds"] = round(time.perf_counter() - t1, 2)
        print(f"migration 0012 built the tree of {n} in {results['migration_build_seconds']} s")
        del t0
        with owner.begin() as oc:
            oc.exec_driver_sql("TRUNCATE merkle_nodes")
        t0 = time.perf_counter()
        tree.extend(cur, n)
        conn.commit()
        results["python_build_seconds"] = round(time.perf_counter() - t0, 2)
        print(f"extend built the tree of {n} in {results['python_build_seconds']} s")

        # 3. proofs
        def subtrees(nodes):  # type: ignore[no-untyped-def]
            return tree.subtrees(cur, nodes)

        root = root_hash(n, subtrees)
        hashes = dict(cur.execute(
            "SELECT position, hash FROM events WHERE position = ANY(%s)",
            ([random.randint(1, n) for _ in range(args.proofs)],),
        ).fetchall())
        positions = list(hashes)
        made, checked = [], []
        for p in positions:
            t0 = time.perf_counter()
            proof = inclusion_proof(p - 1, n, subtrees)
            t1 = time.perf_counter()
            verify_inclusion(p - 1, n, event_leaf_hash(hashes[p]), proof, root)
            t2 = time.perf_counter()
            made.append(t1 - t0)
            checked.append(t2 - t1)
        conn.rollback()
        results["inclusion_proof"] = ms(made)
        results["inclusion_verify"] = ms(checked)
        made, checked = [], []
        for _ in range(min(args.proofs, 500)):
            m = random.randint(1, n)
            from_root = root_hash(m, subtrees)
            t0 = time.perf_counter()
            proof = consistency_proof(m, n, subtrees)
            t1 = time.perf_counter()
            verify_consistency(m, n, proof, from_root, root)
            t2 = time.perf_counter()
            made.append(t1 - t0)
            checked.append(t2 - t1)
        conn.rollback()
        results["consistency_proof"] = ms(made)
        results["consistency_verify"] = ms(checked)
        for key in ("inclusion_proof", "inclusion_verify", "consistency_proof", "consistency_verify"):
            print(key, results[key])
        pooled.close()
    finally:
        app.dispose()
        owner.dispose()
        with psycopg.connect(admin_url.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    out = ROOT / "bench" / "results" / "merkle.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
