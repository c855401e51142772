"""How fast ``ledger relay`` catches up a long log, beside plain nats-py publishing the same bytes.

    python bench/relay.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
                          [--events 100000] [--batch 1000] [--rounds 2]

In a scratch database ``bench_relay`` (created fresh, dropped at the end) a synthetic ledger
of about ``--events`` events (``ledger synth``), and a ``nats-server -js`` of the bench's own
on a free port, storing in a temporary directory. Then, ``--rounds`` times, in this order,
each into a JetStream stream of its own (file storage, subjects ``<prefix>.>``):

1. **relay**: ``ledger.relay.Relay`` from an empty stream to the head (timed from the start
   of ``run`` to the moment it reports it is following the log): PostgreSQL reads in batches
   of ``--batch``, the export encoding, the headers (``Nats-Msg-Id``,
   ``Nats-Expected-Last-Sequence``), ``--batch`` publishes in flight and every ack checked.
2. **nats-py publish_async**: the same payloads and subjects, encoded beforehand and held in
   memory, published with nats-py's own ``JetStreamContext.publish_async`` (at most
   ``--batch`` pending, no headers, no checks), until ``publish_async_completed``: what the
   library does with no database and no guarantee.
3. **read alone**: the relay's reads (``EventStore.read`` by position, ``--batch`` at a
   time) and the encoding, publishing nothing: what the database side costs.

Events per second are printed and written as JSON to ``bench/results/relay.json``. The
database, the NATS server and the bench share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ledger.domain.jsonl import format_recorded  # noqa: E402
from ledger.relay import Relay  # noqa: E402
from ledger.store import EventStore, migrate  # noqa: E402
from ledger.store.engine import listen_url, make_engine  # noqa: E402
from ledger.synth import synth  # noqa: E402

DATABASE = "bench_relay"
APP_ROLE = "ledger_app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nats(directory: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    process = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "Server is ready" in line:
            return process, f"nats://127.0.0.1:{port}"
    raise RuntimeError("nats-server did not start")


async def time_relay(store: EventStore, listen: str, url: str, name: str, batch: int) -> float:
    relay = Relay(store, listen, url, jetstream=name, subject_prefix=name.lower(), batch_size=batch)
    relay.on_following = lambda position: relay.stop()
    started = time.perf_counter()
    await relay.run()
    return time.perf_counter() - started


async def time_publish_async(
    url: str, name: str, payloads: list[tuple[str, bytes]], batch: int
) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=batch)
        prefix = name.lower()
        await js.add_stream(name=name, subjects=[f"{prefix}.>"])
        started = time.perf_counter()
        for subject, payload in payloads:
            await js.publish_async(f"{prefix}.{subject}", payload)
        await js.publish_async_completed()
        elapsed = time.perf_counter() - started
        info = await js.stream_info(name)
        assert info.state.last_seq == len(payloads), info.state
        return elapsed
    finally:
        await nc.close()


def time_reads(store: EventStore, batch: int) -> float:
    started = time.perf_counter()
    after = 0
    while events := store.read(after, batch):
        for event in events:
            format_recorded(event)
        after = events[-1].position
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a superuser URL")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    admin_url = make_url(args.database_url)
    admin = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{DATABASE}"')
    url = admin_url.set(database=DATABASE).render_as_string(hide_password=False)
    owner = make_engine(url, pool_size=1)
    migrate.upgrade(owner, app_role=APP_ROLE)
    app = make_engine(url, app_role=APP_ROLE)
    store = EventStore(app)
    directory = tempfile.mkdtemp(prefix="bench-relay-")
    broker, nats_url = start_nats(directory)
    try:
        made = synth(store, events=args.events, entities=max(2, args.events // 200), seed=1)
        events = list(store.iter_events())
        payloads = [(e.type, format_recorded(e)) for e in events]
        n = len(events)
        print(f"{n:,} events, {sum(len(p) for _, p in payloads) / n:,.0f} bytes each on average")
        listen = listen_url(app)
        runs: dict[str, list[float]] = {"relay": [], "nats_py_publish_async": [], "read_alone": []}
        for r in range(args.rounds):
            seconds = asyncio.run(time_relay(store, listen, nats_url, f"RELAY{r}", args.batch))
            runs["relay"].append(n / seconds)
            seconds = asyncio.run(time_publish_async(nats_url, f"RAW{r}", payloads, args.batch))
            runs["nats_py_publish_async"].append(n / seconds)
            runs["read_alone"].append(n / time_reads(store, args.batch))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in runs.items()))
        results = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "events": n,
            "entities": made.entities,
            "batch": args.batch,
            "events_per_second": {k: [round(x) for x in v] for k, v in runs.items()},
            "median_events_per_second": {k: round(statistics.median(v)) for k, v in runs.items()},
            "relay_over_publish_async": round(
                statistics.median(runs["relay"]) / statistics.median(runs["nats_py_publish_async"]),
                3,
            ),
            "nats_server": subprocess.run(
                [shutil.which("nats-server") or "nats-server", "--version"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip(),
            "nats_py": importlib.metadata.version("nats-py"),
        }
        print(json.dumps(results["median_events_per_second"]), results["relay_over_publish_async"])
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "relay.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(directory, ignore_errors=True)
        app.dispose()
        owner.dispose()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
