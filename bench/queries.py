"""Read-side speed of the deal ledger: as-of queries and the full rebuild, against floors.

    python bench/queries.py [--events 1000000] [--entities 10000] [--deals 100000]
                            [--samples 200] [--database-url URL [--reuse]]

1. A synthetic ledger (``ledger synth``: power-law deal counts, amendments, tranches,
   back-dated corrections, retractions) is appended, unless ``--reuse`` finds one already.
2. The read models are rebuilt from position 0 (``ledger projections rebuild``): events/s,
   beside raw ``COPY (SELECT * FROM events) TO STDOUT`` read by psycopg in the same run; and
   the memory of the server process doing the rebuild, sampled after every chunk, to show it
   stays flat as the events go by (the rebuild streams; nothing is loaded whole).
3. ``--samples`` random (entity, as_of, known_at) questions, each timed through the query
   function the API calls and, beside it, its plain-SQL floor: the same indexed statements
   run by raw psycopg with nothing built from the rows. The difference is what the ledger
   adds on top of the database (assembling views, derived measures).

Figures are printed and written to ``bench/results/queries.json``. By default a fresh embedded
PostgreSQL 18 in a temporary directory is used (and the ledger synthesised each time); with
``--database-url`` (a superuser URL) the scratch database ``bench_queries`` is used, and
``--reuse`` keeps it between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import psycopg  # noqa: E402
from append import database_url, machine_facts, server_facts  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402

from ledger import queries  # noqa: E402
from ledger.projections.rebuild import rebuild  # noqa: E402
from ledger.queries.graph import _EDGES_TOUCHING  # noqa: E402
from ledger.store import EventStore  # noqa: E402
from ledger.store.engine import make_engine  # noqa: E402
from ledger.store.migrate import upgrade  # noqa: E402
from ledger.synth import START, synth  # noqa: E402

DATABASE = "bench_queries"
APP_ROLE = "ledger_app"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "queries.json"
TARGET_EXPOSURE_P99_MS = 20.0
TARGET_REBUILD_SHARE = 0.25


def open_bench_database(args: argparse.Namespace, stack: contextlib.ExitStack):
    """The synthetic ledger's database, ``bench_queries``: on ``--database-url`` or a throwaway
    embedded server; created afresh unless ``--reuse`` finds it (and then kept). Returns its
    URL, the admin connection, the embedded server if any, and whether it was created now.
    Shared with bench/api.py, which measures the API on the same ledger."""
    embedded = None
    if args.database_url:
        server_url = args.database_url
    else:
        from ledger.store.embedded import EmbeddedPostgres

        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ledger-bench-"))
        embedded = EmbeddedPostgres(Path(tmp)).start()
        stack.callback(embedded.stop)
        server_url = embedded.owner_url
    admin = stack.enter_context(psycopg.connect(server_url, autocommit=True))
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
    fresh = not (args.reuse and exists.fetchone())
    if fresh:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    if not args.reuse:
        stack.callback(admin.execute, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return database_url(server_url, DATABASE), admin, embedded, fresh


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _rss_anon_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return None


def copy_read(url: str) -> tuple[int, float]:
    """Raw COPY of the whole events table to the client: (events, seconds)."""
    with psycopg.connect(url) as conn:
        count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        started = time.perf_counter()
        with conn.cursor().copy("COPY (SELECT * FROM events ORDER BY position) TO STDOUT") as copy:
            for _ in copy:
                pass
        return count, time.perf_counter() - started


def measure_rebuild(owner_url: str, console: Console) -> dict[str, Any]:
    owner = make_engine(owner_url, pool_size=1)
    with owner.connect() as conn:  # the pool's one connection: the rebuild reuses it
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    samples: list[tuple[int, int]] = []  # (events done, server RssAnon KiB)
    with _progress(console) as progress:
        task = progress.add_task("rebuild", total=None)

        def sample(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
            kib = _rss_anon_kib(pid)
            if kib is not None:
                samples.append((done, kib))

        client_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = rebuild(owner, app_role=APP_ROLE, progress=sample)
        client_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    owner.dispose()
    # The last sample follows the index build and the swap (maintenance_work_mem, not the
    # number of events); the others follow each chunk of the bulk pass.
    bulk, final = samples[:-1], samples[-1:]
    half = len(bulk) // 2
    first = max((k for _, k in bulk[:half]), default=None)
    second = max((k for _, k in bulk[half:]), default=None)
    return {
        "events": result.events,
        "seconds": result.seconds,
        "events_per_second": result.events_per_second,
        "server_rss_anon_kib_first_half_peak": first,
        "server_rss_anon_kib_second_half_peak": second,
        "server_rss_anon_kib_after_indexes": final[0][1] if final else None,
        "chunks": len(bulk),
        "client_max_rss_growth_kib": client_after - client_before,
    }


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _floor_statement(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> None:
    conn.execute(sql, params, prepare=True).fetchall()
    conn.rollback()


def questions(
    engine: Any,
    store: EventStore,
    raw: psycopg.Connection,
    entity_ids: list[str],
    recorded: tuple[dt.datetime, dt.datetime],
    rng: random.Random,
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """One random question of each kind: (through the ledger, its plain-SQL floor)."""
    entity_id = rng.choice(entity_ids)
    as_of = START + dt.timedelta(days=rng.randint(0, 3 * 365))
    # Any moment of the ledger's recording: early ones see a smaller web (or no entity yet).
    known_at = recorded[0] + (recorded[1] - recorded[0]) * rng.random()
    params = {"as_of": as_of, "known_at": known_at, "basis": "HEADLINE", "ids": [entity_id]}
    edges_sql = _EDGES_TOUCHING

    def two_hop_floor() -> None:
        rows = raw.execute(edges_sql, params, prepare=True).fetchall()
        around = sorted({r[3] for r in rows} | {r[4] for r in rows})  # payer, payee
        raw.execute(edges_sql, params | {"ids": around}, prepare=True).fetchall()
        raw.rollback()

    def cycles_floor() -> None:
        ids = [entity_id]
        for _ in range(3):
            rows = raw.execute(edges_sql, params | {"ids": ids}, prepare=True).fetchall()
            ids = sorted({r[3] for r in rows} | {r[4] for r in rows})
        raw.rollback()

    months = [as_of - dt.timedelta(days=30 * k) for k in range(23, -1, -1)]

    def series_floor() -> None:
        deals = raw.execute(
            "SELECT deal_id FROM rm_deal_legs WHERE payer = %(e)s "
            "UNION SELECT deal_id FROM rm_deal_legs WHERE payee = %(e)s",
            {"e": entity_id},
        ).fetchall()
        streams = [f"entity/{entity_id}", *(f"deal/{d}" for (d,) in deals)]
        raw.execute(
            "SELECT * FROM events WHERE stream = ANY(%(s)s) AND recorded_at <= %(k)s "
            "ORDER BY position",
            {"s": streams, "k": known_at},
        ).fetchall()
        raw.rollback()

    return {
        "entity exposures": (
            lambda: (view := queries.entity(engine, entity_id, as_of, known_at)) and view.exposures,
            lambda: _floor_statement(raw, edges_sql, params),
        ),
        "graph around an entity, 2 hops": (
            lambda: queries.graph(engine, as_of, known_at, entity_ids=[entity_id], hops=2),
            two_hop_floor,
        ),
        "largest 100 circular flows through an entity": (
            lambda: queries.circular_flows(engine, as_of, known_at, through=entity_id, limit=100),
            cycles_floor,
        ),
        "24-point monthly series (exposure out)": (
            lambda: queries.series(engine, store, entity_id, "EXPOSURE_OUT", months, known_at),
            series_floor,
        ),
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="questions of each kind")
    parser.add_argument(
        "--cycle-samples",
        type=int,
        default=10,
        help="circular-flow questions (each reads most of a dense web: seconds, not ms)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="a superuser URL (default: embedded PG 18)")
    parser.add_argument("--reuse", action="store_true", help="keep and reuse bench_queries")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    with contextlib.ExitStack() as stack:
        url, admin, embedded, fresh = open_bench_database(args, stack)
        owner = make_engine(url, pool_size=1)
        upgrade(owner, app_role=APP_ROLE)
        owner.dispose()
        engine = make_engine(url, app_role=APP_ROLE, pool_size=2)
        stack.callback(engine.dispose)
        store = EventStore(engine)

        if store.head().position == 0:
            with _progress(console) as progress:
                task = progress.add_task("synth", total=args.events)
                synth(
                    store,
                    events=args.events,
                    entities=args.entities,
                    deals=args.deals,
                    seed=args.seed,
                    progress=lambda done: progress.update(task, completed=done),
                )
        head = store.head().position
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) events")

        copied, copy_seconds = copy_read(url)
        rebuilt = measure_rebuild(url, console)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

        with psycopg.connect(url) as conn:
            entity_ids = [r[0] for r in conn.execute("SELECT DISTINCT entity_id FROM rm_entities")]
            recorded = conn.execute(
                "SELECT min(recorded_at), max(recorded_at) FROM events"
            ).fetchone()
        rng = random.Random(args.seed)
        raw = stack.enter_context(
            psycopg.connect(url, options=f"-c timezone=UTC -c role={APP_ROLE}")
        )
        latencies: dict[str, dict[str, list[float]]] = {}
        with _progress(console) as progress:
            task = progress.add_task("questions", total=args.samples)
            for i in range(args.samples + 5):  # the first five warm the caches
                for name, (ours, floor) in questions(
                    engine, store, raw, entity_ids, recorded, rng
                ).items():
                    if name.startswith("largest") and not 5 <= i < 5 + args.cycle_samples:
                        continue
                    ledger_ms, floor_ms = timed(ours), timed(floor)
                    if i >= 5:
                        row = latencies.setdefault(name, {"ledger": [], "floor": []})
                        row["ledger"].append(ledger_ms)
                        row["floor"].append(floor_ms)
                progress.update(task, completed=max(0, i - 4))

        table = Table(title=f"As-of queries over {head:,} events")
        for column in ("question", "samples", "p50 ms", "p99 ms", "floor p50", "floor p99"):
            table.add_column(column, justify="left" if column == "question" else "right")
        figures = {}
        for name, row in latencies.items():
            f = {
                "p50_ms": statistics.median(row["ledger"]),
                "p99_ms": percentile(row["ledger"], 99),
                "floor_p50_ms": statistics.median(row["floor"]),
                "floor_p99_ms": percentile(row["floor"], 99),
            }
            figures[name] = f
            table.add_row(name, str(len(row["ledger"])), *(f"{v:.1f}" for v in f.values()))
        console.print(table)
        copy_rate = copied / copy_seconds
        share = rebuilt["events_per_second"] / copy_rate
        rebuild_table = Table(title="Full rebuild of the read models")
        for column in ("figure", "value"):
            rebuild_table.add_column(column)
        rebuild_table.add_row("rebuild", f"{rebuilt['events_per_second']:,.0f} events/s")
        rebuild_table.add_row("raw COPY read of events", f"{copy_rate:,.0f} events/s")
        rebuild_table.add_row("ratio", f"{share:.2f}x (target >= {TARGET_REBUILD_SHARE}x)")
        rebuild_table.add_row(
            f"server memory, bulk pass ({rebuilt['chunks']} chunks), peak 1st / 2nd half",
            f"{rebuilt['server_rss_anon_kib_first_half_peak']} / "
            f"{rebuilt['server_rss_anon_kib_second_half_peak']} KiB anonymous",
        )
        rebuild_table.add_row(
            "server memory after the index build",
            f"{rebuilt['server_rss_anon_kib_after_indexes']} KiB anonymous",
        )
        rebuild_table.add_row("client memory growth", f"{rebuilt['client_max_rss_growth_kib']} KiB")
        exposure = figures.get("entity exposures", {})
        rebuild_table.add_row(
            "entity exposures p99",
            f"{exposure.get('p99_ms', float('nan')):.1f} ms (target < {TARGET_EXPOSURE_P99_MS} ms)",
        )
        console.print(rebuild_table)

        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(["python", "bench/queries.py", *(argv or sys.argv[1:])]),
            "machine": machine_facts(),
            "server": server_facts(admin, embedded is not None),
            "ledger": {"events": head, "entities": len(entity_ids), "synthesised": fresh},
            "queries": figures,
            "rebuild": rebuilt | {"copy_read_events_per_second": copy_rate, "ratio": share},
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
