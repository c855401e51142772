"""Append throughput of the deal ledger's EventStore against two yardsticks, on one server.

    python bench/append.py [--events N] [--single N] [--database-url URL]

Contenders, each in its own scratch database on the same PostgreSQL server:

* ``ledger``: ``ledger.store.EventStore.append`` as the service role (validation, hash chain,
  advisory lock, COPY, and the chain-checking trigger), on the schema our migrations create.
* ``eventsourcing``: the ``eventsourcing`` library's ``PostgresApplicationRecorder``
  (``insert_events``; LOCK TABLE + NOTIFY + INSERT ... unnest, pipelined), ~200-byte JSON state.
* ``copy``: raw psycopg ``COPY`` into a table with our events table's columns, types,
  constraints and indexes but no triggers: the floor for what any Python client can do.

Each is run for single-event appends (one event per transaction) with 1 writer and with
``--writers`` writer processes, and for batched appends (``--batch-size`` events per
transaction, each batch to its own stream, ``--events`` events in all, one writer). Writers are
separate processes (the GIL), started together at a barrier; a run's rate is its events divided
by the wall time from the first writer's start to the last writer's end. Single-event runs are
repeated ``--rounds`` times (batched ones ``--batch-rounds`` times) with the contenders' order
rotated each round, and the median round counts: the figures compare like with like even on a
machine whose disk latency wanders.

By default the script starts a fresh embedded PostgreSQL 18 in a temporary directory; with
``--database-url`` (a superuser URL) it uses that server. Scratch databases ``bench_ledger``,
``bench_es`` and ``bench_copy`` are created fresh and dropped at the end. Figures are printed as
a table and written as JSON to ``bench/results/append.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import importlib
import importlib.metadata
import json
import multiprocessing as mp
import os
import platform
import queue
import shlex
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/append.py` from a checkout
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import psycopg  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DATABASES = {"ledger": "bench_ledger", "eventsourcing": "bench_es", "copy": "bench_copy"}
CONTENDERS = ("ledger", "eventsourcing", "copy")
LABELS = {
    "ledger": "ledger EventStore",
    "eventsourcing": "eventsourcing recorder",
    "copy": "raw psycopg COPY",
}
APP_ROLE = "ledger_app"
STREAMS_PER_WRITER = 100  # single-event writers spread their appends over this many streams
WARM_UP_OPS = 10
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "append.json"

# One event, ~200 bytes of JSON in all (data + source + metadata), the same for every contender.
EVENT_TYPE = "ValuationReported"
EFFECTIVE_AT = dt.datetime(2025, 3, 31, tzinfo=dt.UTC)


def data_for(stream: str) -> dict[str, str]:
    """A valid ValuationReported for the entity whose stream it is (the ledger checks both)."""
    return {
        "entity_id": stream.split("/", 1)[1],
        "valuation_usd": "300000000000",
        "basis": "funding_round",
        "round_size_usd": "40000000000",
    }


SOURCE = {"url": "https://example.com/2025/03/31/valuation", "title": "Valuation report"}
METADATA = {"actor": "bench"}
ES_TOPIC = f"ledger.events:{EVENT_TYPE}"
# The raw COPY contender writes well-formed but uncomputed hashes: it measures the database.
FAKE_HASH = "5f" * 32


def payload_bytes() -> int:
    return len(orjson.dumps([data_for("entity/r0-p4-w1-00000"), SOURCE, METADATA]))


# -- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    contender: str
    mode: str  # "single" or "batch"
    writers: int
    ops_per_writer: int  # appends (transactions) per writer
    batch_size: int  # events per append
    url: str
    position_base: int = 0  # raw COPY only: positions already used in its table
    round: int = 0  # streams are per round, so a later round never meets an earlier one's

    @property
    def events(self) -> int:
        return self.writers * self.ops_per_writer * self.batch_size

    @property
    def tag(self) -> str:
        return f"{self.mode}-{self.writers}w"


@dataclass
class RunResult:
    contender: str
    mode: str
    writers: int
    batch_size: int
    appends: int
    events: int
    seconds: float
    events_per_second: float
    appends_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    per_writer_events_per_second: list[float] = field(default_factory=list)
    round_events_per_second: list[float] = field(default_factory=list)


class LedgerWriter:
    """Our EventStore, as the service role."""

    def __init__(self, spec: RunSpec, w: int) -> None:
        from ledger.domain.envelope import NewEvent
        from ledger.store.engine import make_engine
        from ledger.store.event_store import EventStore

        self.NewEvent = NewEvent
        self.store = EventStore(make_engine(spec.url, app_role=APP_ROLE, pool_size=1))
        self.spec, self.w = spec, w
        self.versions: dict[str, int] = {}

    def _event(self, stream: str):
        return self.NewEvent(
            type=EVENT_TYPE,
            data=data_for(stream),
            effective_at=EFFECTIVE_AT,
            source=SOURCE,
            metadata=METADATA,
        )

    def single(self, i: int, stream: str) -> None:
        version = self.versions.get(stream, 0)
        self.store.append(stream, self._event(stream), expected_version=version)
        self.versions[stream] = version + 1

    def batch(self, i: int, stream: str, n: int) -> None:
        self.store.append(stream, [self._event(stream) for _ in range(n)], expected_version=0)

    def close(self) -> None:
        self.store.engine.dispose()


class EventsourcingWriter:
    """The eventsourcing library's PostgreSQL application recorder."""

    def __init__(self, spec: RunSpec, w: int) -> None:
        from eventsourcing.persistence import StoredEvent

        self.StoredEvent = StoredEvent
        self.datastore, self.recorder = es_recorder(spec.url)
        self.versions: dict[str, int] = {}

    def _state(self, stream: str) -> bytes:
        return orjson.dumps({"data": data_for(stream), "source": SOURCE, "metadata": METADATA})

    def single(self, i: int, stream: str) -> None:
        version = self.versions.get(stream, 0) + 1
        event = self.StoredEvent(
            originator_id=uuid.uuid5(uuid.NAMESPACE_URL, stream),
            originator_version=version,
            topic=ES_TOPIC,
            state=self._state(stream),
        )
        self.recorder.insert_events([event])
        self.versions[stream] = version

    def batch(self, i: int, stream: str, n: int) -> None:
        originator_id = uuid.uuid5(uuid.NAMESPACE_URL, stream)
        self.recorder.insert_events(
            [
                self.StoredEvent(
                    originator_id=originator_id,
                    originator_version=v,
                    topic=ES_TOPIC,
                    state=self._state(stream),
                )
                for v in range(1, n + 1)
            ]
        )

    def close(self) -> None:
        self.datastore.close()


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class CopyWriter:
    """Raw psycopg COPY, autocommit: each COPY statement is its own transaction."""

    def __init__(self, spec: RunSpec, w: int) -> None:
        from ledger.store.event_store import _COPY_SQL

        self.copy_sql = _COPY_SQL
        self.conn = psycopg.connect(spec.url, autocommit=True, options="-c timezone=UTC")
        self.cur = self.conn.cursor()
        self.spec, self.w = spec, w
        self.versions: dict[str, int] = {}
        # Positions: right after what the table holds, interleaved between the writers; the
        # warm-up rows go in a range of their own after the measured ones.
        self.warm_position = spec.position_base + spec.events + w * WARM_UP_OPS * spec.batch_size

    def _row(self, position: int, stream: str, version: int, now: dt.datetime) -> tuple:
        return (
            position,
            stream,
            version,
            uuid.uuid4(),
            EVENT_TYPE,
            1,
            Jsonb(data_for(stream), dumps=_dumps),
            Jsonb(SOURCE, dumps=_dumps),
            Jsonb(METADATA, dumps=_dumps),
            EFFECTIVE_AT,
            now,
            FAKE_HASH,
            FAKE_HASH,
        )

    def _position(self, i: int, j: int = 0) -> int:
        if i < 0:  # warm-up
            self.warm_position += 1
            return self.warm_position
        spec = self.spec
        return spec.position_base + (i * spec.writers + self.w) * spec.batch_size + j + 1

    def single(self, i: int, stream: str) -> None:
        version = self.versions.get(stream, 0) + 1
        row = self._row(self._position(i), stream, version, dt.datetime.now(dt.UTC))
        with self.cur.copy(self.copy_sql) as copy:
            copy.write_row(row)
        self.versions[stream] = version

    def batch(self, i: int, stream: str, n: int) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.cur.copy(self.copy_sql) as copy:
            for j in range(n):
                copy.write_row(self._row(self._position(i, j), stream, j + 1, now))

    def close(self) -> None:
        self.conn.close()


WRITERS = {"ledger": LedgerWriter, "eventsourcing": EventsourcingWriter, "copy": CopyWriter}


def es_recorder(url: str):
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    params = psycopg.conninfo.conninfo_to_dict(url)
    datastore = PostgresDatastore(
        dbname=params["dbname"],
        host=params.get("host", ""),
        port=params.get("port", 5432),
        user=params.get("user", ""),
        password=params.get("password", ""),
        pool_size=1,
    )
    return datastore, PostgresApplicationRecorder(datastore)


def _stream(spec: RunSpec, w: int, i: int) -> str:
    if spec.mode == "batch":
        return f"entity/r{spec.round}-b{w}-{i:06d}"
    return f"entity/r{spec.round}-p{spec.writers}-w{w + 1}-{i % STREAMS_PER_WRITER:05d}"


def _warm_stream(spec: RunSpec, w: int, k: int) -> str:
    kind = "entity"
    return f"{kind}/warm-r{spec.round}-{spec.tag}-w{w + 1}-{k}"


def worker(spec, w, barrier, progress, results, errors, profile_dir) -> None:  # child process
    try:
        writer = WRITERS[spec.contender](spec, w)
        # Warm up (connect, prepare, fill caches) outside the timed part.
        for k in range(WARM_UP_OPS):
            if spec.mode == "single":
                writer.single(-1, _warm_stream(spec, w, 0))
            else:
                writer.batch(-1, _warm_stream(spec, w, k), min(spec.batch_size, 10))
        latencies = []
        profiler = cProfile.Profile() if profile_dir else None
        barrier.wait(timeout=300)
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        for i in range(spec.ops_per_writer):
            t = time.perf_counter()
            if spec.mode == "single":
                writer.single(i, _stream(spec, w, i))
            else:
                writer.batch(i, _stream(spec, w, i), spec.batch_size)
            latencies.append(time.perf_counter() - t)
            progress[w] += spec.batch_size
        end = time.perf_counter()
        if profiler:
            profiler.disable()
            profiler.dump_stats(Path(profile_dir) / f"{spec.contender}-{spec.tag}-w{w + 1}.prof")
        writer.close()
        results.put((w, start, end, latencies))
    except BaseException:
        errors.put(f"{spec.contender} {spec.tag} writer {w + 1}:\n{traceback.format_exc()}")
        with contextlib.suppress(Exception):
            barrier.abort()
        sys.exit(1)


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>10,.0f} ev/s" if speed else " " * 15, style="progress.data.speed")


def run(spec: RunSpec, progress: Progress, profile_dir: Path | None) -> RunResult:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(spec.writers)
    counters = ctx.Array("q", spec.writers, lock=False)
    results, errors = ctx.Queue(), ctx.Queue()
    label = f"{LABELS[spec.contender]:<23} {spec.mode:<6} {spec.writers}w"
    task = progress.add_task(label, total=spec.events)
    procs = [
        ctx.Process(
            target=worker,
            args=(spec, w, barrier, counters, results, errors, profile_dir),
            name=f"bench-{spec.contender}-{w + 1}",
        )
        for w in range(spec.writers)
    ]
    for p in procs:
        p.start()
    got: list[tuple] = []
    failures: list[str] = []

    def drain() -> None:
        for q, out in ((results, got), (errors, failures)):
            with contextlib.suppress(queue.Empty):
                while True:
                    out.append(q.get_nowait())

    try:
        while any(p.is_alive() for p in procs):
            progress.update(task, completed=sum(counters))
            drain()
            if failures:
                time.sleep(0.5)
                break
            time.sleep(0.1)
        deadline = time.monotonic() + 30
        while len(got) < spec.writers and not failures and time.monotonic() < deadline:
            drain()
            time.sleep(0.05)
        drain()
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    if failures or len(got) < spec.writers:
        raise RuntimeError(
            "\n".join(failures) or f"{spec.contender} {spec.tag}: a writer died without a word"
        )
    progress.update(task, completed=sum(counters))
    start = min(g[1] for g in got)
    end = max(g[2] for g in got)
    seconds = end - start
    latencies = sorted(x for g in got for x in g[3])
    appends = len(latencies)
    events = appends * spec.batch_size
    return RunResult(
        contender=spec.contender,
        mode=spec.mode,
        writers=spec.writers,
        batch_size=spec.batch_size,
        appends=appends,
        events=events,
        seconds=round(seconds, 3),
        events_per_second=round(events / seconds, 1),
        appends_per_second=round(appends / seconds, 1),
        latency_p50_ms=round(statistics.median(latencies) * 1000, 3),
        latency_p99_ms=round(latencies[min(appends - 1, int(appends * 0.99))] * 1000, 3),
        latency_max_ms=round(latencies[-1] * 1000, 3),
        per_writer_events_per_second=[
            round(len(g[3]) * spec.batch_size / (g[2] - g[1]), 1) for g in sorted(got)
        ],
    )


def median_run(runs: list[RunResult]) -> RunResult:
    """The run with the median rate, carrying every round's rate along."""
    ordered = sorted(runs, key=lambda r: r.events_per_second)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.round_events_per_second = [r.events_per_second for r in runs]
    return chosen


# -- the server and its scratch databases -------------------------------------------------------


def database_url(server_url: str, database: str) -> str:
    url = make_url(server_url.replace("postgres://", "postgresql://", 1))
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def create_databases(admin: psycopg.Connection, names) -> None:
    for name in names:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_databases(admin: psycopg.Connection, names) -> None:
    for name in names:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_ledger(url: str) -> None:
    from ledger.store.engine import make_engine
    from ledger.store.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine, app_role=APP_ROLE)
    finally:
        engine.dispose()


def setup_eventsourcing(url: str) -> None:
    datastore, recorder = es_recorder(url)
    try:
        recorder.create_table()
    finally:
        datastore.close()


def setup_copy(url: str) -> None:
    # The very DDL of our migrations (columns, types, constraints, indexes); no triggers.
    ddl = importlib.import_module("migrations.versions.0001_events").CREATE_TABLE
    checks = importlib.import_module("migrations.versions.0011_events_cheaper_checks").CHECKS
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl)
        conn.execute(checks)  # the hash format checks as they are at head


SETUP = {"ledger": setup_ledger, "eventsourcing": setup_eventsourcing, "copy": setup_copy}
TABLES = {"ledger": "events", "eventsourcing": "stored_events", "copy": "events"}


def settle(admin: psycopg.Connection, url: str, contender: str) -> None:
    """Between runs: vacuum the table just written and checkpoint, so no run pays for another."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {TABLES[contender]}")
    admin.execute("CHECKPOINT")


def copy_position_base(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]


# -- facts --------------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = {}
    for name in ("deal-ledger", "psycopg", "psycopg-binary", "sqlalchemy", "eventsourcing"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
    }


SERVER_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "shared_buffers",
    "max_wal_size",
    "data_directory",
)


def server_facts(admin: psycopg.Connection, embedded: bool) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "version": admin.execute("SELECT version()").fetchone()[0],
        "embedded": embedded,
    }
    for name in SERVER_SETTINGS:
        with contextlib.suppress(psycopg.Error):
            facts[name] = admin.execute(f"SHOW {name}").fetchone()[0]
    return facts


# -- output -------------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def results_table(results: list[RunResult]) -> Table:
    table = Table(title="Append throughput", title_justify="left")
    for name, justify in (
        ("contender", "left"),
        ("mode", "left"),
        ("writers", "right"),
        ("events", "right"),
        ("seconds", "right"),
        ("events/s", "right"),
        ("appends/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in results:
        mode = "single" if r.mode == "single" else f"batch x{r.batch_size:,}"
        table.add_row(
            LABELS[r.contender],
            mode,
            str(r.writers),
            f"{r.events:,}",
            f"{r.seconds:.2f}",
            _rate(r.events_per_second),
            _rate(r.appends_per_second),
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p99_ms:.2f}",
        )
    return table


def ratios(results: list[RunResult], writers: int) -> list[dict[str, Any]]:
    by = {(r.contender, r.mode, r.writers): r for r in results}
    wanted = [
        ("single-event, 1 writer", ("single", 1), "eventsourcing", 1.0),
        (f"single-event, {writers} writers", ("single", writers), "eventsourcing", 1.0),
        ("batched", ("batch", 1), "copy", 0.5),
        ("batched", ("batch", 1), "eventsourcing", 1.0),
    ]
    out = []
    for name, (mode, w), against, target in wanted:
        ours, theirs = by.get(("ledger", mode, w)), by.get((against, mode, w))
        if ours is None or theirs is None:
            continue
        ratio = ours.events_per_second / theirs.events_per_second
        out.append(
            {
                "figure": name,
                "ledger_events_per_second": ours.events_per_second,
                "against": against,
                "against_events_per_second": theirs.events_per_second,
                "ratio": round(ratio, 3),
                "target": target,
                "met": ratio >= target,
            }
        )
    return out


def ratios_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Targets", title_justify="left")
    for name, justify in (
        ("figure", "left"),
        ("ledger ev/s", "right"),
        ("against", "left"),
        ("their ev/s", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("met", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            row["figure"],
            _rate(row["ledger_events_per_second"]),
            LABELS[row["against"]],
            _rate(row["against_events_per_second"]),
            f"{row['ratio']:.2f}x",
            f">= {row['target']:g}x",
            "[green]yes[/]" if row["met"] else "[red]no[/]",
        )
    return table


def facts_table(machine: dict[str, Any], server: dict[str, Any], args) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("server", server["version"])
    table.add_row(
        "",
        ", ".join(
            f"{k}={server[k]}"
            for k in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers")
            if k in server
        ),
    )
    table.add_row("where", "embedded (fresh, temporary)" if server["embedded"] else args.safe_url)
    table.add_row("machine", f"{machine['cores']} cores, {machine['cpu']}, {machine['memory']}")
    table.add_row("python", f"{machine['python']} on {machine['platform']}")
    table.add_row("packages", ", ".join(f"{k} {v}" for k, v in machine["packages"].items()))
    table.add_row(
        "workload",
        f"single: {args.single:,} appends per writer (1 and {args.writers} writers); "
        f"batched: {args.events:,} events in {args.batch_size:,}-event batches; "
        f"payload {payload_bytes()} bytes of JSON",
    )
    return table


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the batched runs")
    parser.add_argument("--single", type=int, default=2_000, help="single-event appends per writer")
    parser.add_argument("--writers", type=int, default=4, help="concurrent single-event writers")
    parser.add_argument("--batch-size", type=int, default=1_000, help="events per batched append")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="single-event runs per contender, in rotating order; the median counts",
    )
    parser.add_argument(
        "--batch-rounds", type=int, default=1, help="batched runs per contender (likewise)"
    )
    parser.add_argument(
        "--database-url",
        help="a superuser URL of the server to use (default: a fresh embedded PostgreSQL 18)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {', '.join(CONTENDERS)}",
    )
    parser.add_argument(
        "--modes", default="single,batch", help="comma-separated subset of single, batch"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each writer's timed loop into DIR/<contender>-<mode>-<n>w-w<k>.prof",
    )
    args = parser.parse_args(argv)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(args.contenders) - set(CONTENDERS):
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    if unknown := set(args.modes) - {"single", "batch"}:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if args.events % args.batch_size:
        parser.error("--events must be a multiple of --batch-size")
    if (
        min(args.events, args.single, args.writers, args.batch_size, args.rounds, args.batch_rounds)
        < 1
    ):
        parser.error("counts must be positive")
    args.safe_url = (
        make_url(args.database_url).render_as_string(hide_password=True)
        if args.database_url
        else None
    )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A log (output not to a terminal) gets room for the tables instead of 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 120)
    contenders = [c for c in CONTENDERS if c in args.contenders]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    with contextlib.ExitStack() as stack:
        embedded = None
        if args.database_url:
            server_url = args.database_url
        else:
            from ledger.store.embedded import EmbeddedPostgres

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ledger-bench-"))
            with console.status("starting an embedded PostgreSQL..."):
                embedded = EmbeddedPostgres(Path(tmp)).start()
            stack.callback(embedded.stop)
            server_url = embedded.owner_url
        admin = stack.enter_context(psycopg.connect(server_url, autocommit=True))

        machine = machine_facts()
        server = server_facts(admin, embedded is not None)
        console.print(facts_table(machine, server, args))

        role_existed = bool(
            admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        )
        names = [DATABASES[c] for c in contenders]
        create_databases(admin, names)

        def cleanup() -> None:
            drop_databases(admin, names)
            if not role_existed and "ledger" in contenders:
                admin.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')

        stack.callback(cleanup)
        urls = {c: database_url(server_url, DATABASES[c]) for c in contenders}
        with console.status("creating the contenders' tables..."):
            for c in contenders:
                SETUP[c](urls[c])

        # mode, writers, appends per writer, batch size, rounds
        plan: list[tuple[str, int, int, int, int]] = []
        if "single" in args.modes:
            plan += [
                ("single", 1, args.single, 1, args.rounds),
                ("single", args.writers, args.single, 1, args.rounds),
            ]
        if "batch" in args.modes:
            plan.append(
                ("batch", 1, args.events // args.batch_size, args.batch_size, args.batch_rounds)
            )

        results: list[RunResult] = []
        progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            for mode, writers, ops, batch_size, rounds in plan:
                runs: dict[str, list[RunResult]] = {c: [] for c in contenders}
                for r in range(rounds):
                    # Rotate who goes first: a server warms up, checkpoints and vacuums in its
                    # own rhythm, and no contender should always meet it in the same state.
                    for c in contenders[r % len(contenders) :] + contenders[: r % len(contenders)]:
                        admin.execute("CHECKPOINT")
                        spec = RunSpec(
                            contender=c,
                            mode=mode,
                            writers=writers,
                            ops_per_writer=ops,
                            batch_size=batch_size,
                            url=urls[c],
                            position_base=copy_position_base(urls[c]) if c == "copy" else 0,
                            round=r,
                        )
                        runs[c].append(run(spec, progress, args.profile))
                        settle(admin, urls[c], c)
                for c in contenders:
                    results.append(median_run(runs[c]))

        console.print(results_table(results))
        target_rows = ratios(results, args.writers)
        if target_rows:
            console.print(ratios_table(target_rows))

        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(["python", "bench/append.py", *(argv or sys.argv[1:])]),
            "machine": machine,
            "server": server,
            "workload": {
                "single_appends_per_writer": args.single,
                "writers": args.writers,
                "batched_events": args.events,
                "batch_size": args.batch_size,
                "payload_json_bytes": payload_bytes(),
                "streams_per_single_writer": STREAMS_PER_WRITER,
            },
            "results": [asdict(r) for r in results],
            "targets": target_rows,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
