"""Speed of the HTTP API: GraphQL beside a plain JSON route serving the same read.

    python bench/api.py [--database-url URL [--reuse]] [--clients 16] [--seconds 20]
                        [--graph-seconds 60] [--warmup 3] [--seed 1]

1. The synthetic ledger of ``bench/queries.py`` (``ledger synth``, 1,000,000 events asked
   for) in the scratch database ``bench_queries``: with ``--reuse`` an existing one is used
   as it is (its read models rebuilt only if they lag behind the log); otherwise it is made
   afresh, as ``bench/queries.py`` makes it.
2. The service (``api.app.create_app``) is served by uvicorn in a subprocess, one worker,
   with two plain Litestar routes registered beside ``/graphql``: ``/plain/entity/{id}`` and
   ``/plain/graph``. Each plain route calls the same ``ledger.queries`` functions
   the GraphQL resolvers (and their DataLoaders) call for the query below, in the same order,
   off the event loop in the same way, and returns the same fields with the same scalar
   formatting (answers are checked identical before the load starts). The difference between
   the two is what the GraphQL layer costs: parsing, validation, execution, the DataLoaders,
   the resolvers' own work and the JSON encoding.
3. ``--clients`` concurrent clients (asyncio + httpx, keep-alive) send requests for
   ``--seconds`` per entity scenario and ``--graph-seconds`` per two-hop one (each after
   ``--warmup`` unrecorded seconds on other questions); every scenario draws its questions,
   in order, from one seeded sequence (a random entity, ``asOf`` in 2023-2025, ``knownAt``
   anywhere in the ledger's recording, as ``bench/queries.py`` asks), so GraphQL and the
   plain route get the same questions; p50 / p99 are also given over the questions both
   answered, since the faster side gets further along the sequence. Scenarios: an entity's exposures and the two-hop graph around an entity, each
   through GraphQL and through the plain route. An error is a transport failure, a status
   other than 200 or a GraphQL ``errors`` member.

Figures are printed and written to ``bench/results/api.json``. The load generator runs on the
same machine as the server and the database, so all three share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import itertools
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The project's root first, whatever PYTHONPATH says: else this file would import itself as
# ``api`` (its own directory comes first on the path of a script).
for path in (ROOT / "bench", ROOT):
    while str(path) in sys.path:
        sys.path.remove(str(path))
    sys.path.insert(0, str(path))

import httpx  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
from append import machine_facts, server_facts  # noqa: E402
from litestar import Litestar, get  # noqa: E402
from litestar.datastructures import State  # noqa: E402
from queries import APP_ROLE, open_bench_database  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from api.graphql.context import run  # noqa: E402
from api.graphql.scalars import parse_instant, serialize_decimal, serialize_instant  # noqa: E402
from ledger import queries  # noqa: E402
from ledger.domain import analysis, views  # noqa: E402
from ledger.synth import START  # noqa: E402

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "api.json"
TARGET_OVERHEAD = 2.0  # GraphQL within 2x the plain route
LARGE_ANSWER_NODES = 500  # a two-hop answer beyond this many nodes is around a hub
HOPS = 2
JSON_HEADERS = {"content-type": "application/json"}

# -- the two reads, as a client asks them --------------------------------------------------------

ENTITY_QUERY = """
query EntityExposures($id: ID!, $asOf: DateTime!, $knownAt: DateTime!) {
  entity(id: $id, asOf: $asOf, knownAt: $knownAt) {
    id name kind valuationUsd
    exposures {
      totalOutUsd totalInUsd
      outgoing { amountUsd to { id name } }
      incoming { amountUsd from { id name } }
    }
  }
}
"""

GRAPH_QUERY = """
query TwoHops($ids: [String!], $hops: Int!, $asOf: DateTime!, $knownAt: DateTime!) {
  exposureGraph(entityIds: $ids, hops: $hops, asOf: $asOf, knownAt: $knownAt) {
    nodes { id name kind valuationUsd }
    edges { dealId leg instrument amountUsd capacityGw shares payerId payeeId }
  }
}
"""


# -- the plain routes (run in the server process) ------------------------------------------------


def _decimal(value: Any) -> str | None:
    return None if value is None else serialize_decimal(value)


def _ref(node: views.Node) -> dict[str, Any]:
    return {"id": node.entity_id, "name": node.name}


@get("/plain/entity/{entity_id:str}")
async def plain_entity(state: State, entity_id: str, as_of: str, known_at: str) -> dict[str, Any]:
    """``entity { exposures }`` the way the resolvers answer it: the entity's node (the
    ``entity`` field's loader), its view (the ``exposures`` field's loader), then the
    counterparties' nodes (the ``to`` / ``from`` fields' loader), each off the event loop."""
    engine = state.ledger.engine
    at, known = parse_instant(as_of), parse_instant(known_at)
    nodes = await run(queries.entities, engine, [entity_id], at, known)
    node = nodes.get(entity_id)
    if node is None:
        return {"entity": None}
    found = await run(queries.entity_views, engine, [entity_id], at, known, "HEADLINE")
    view = found.get(entity_id)
    exposures = view.exposures if view else analysis.EntityExposures([], [])
    others = [o for o, _ in (*exposures.outgoing, *exposures.incoming) if o != entity_id]
    if others:
        nodes |= await run(queries.entities, engine, list(dict.fromkeys(others)), at, known)

    def ref(other: str) -> dict[str, Any]:
        # as Entity.load: a leg may name an entity whose registration is not visible here
        return _ref(nodes.get(other) or views.Node(entity_id=other, name=other, kind="unknown"))

    return {
        "entity": {
            "id": node.entity_id,
            "name": node.name,
            "kind": node.kind,
            "valuationUsd": _decimal(node.valuation_usd),
            "exposures": {
                "totalOutUsd": _decimal(exposures.total_out),
                "totalInUsd": _decimal(exposures.total_in),
                "outgoing": [
                    {"amountUsd": _decimal(a), "to": ref(o)} for o, a in exposures.outgoing
                ],
                "incoming": [
                    {"amountUsd": _decimal(a), "from": ref(o)} for o, a in exposures.incoming
                ],
            },
        }
    }


@get("/plain/graph")
async def plain_graph(
    state: State, entity_id: str, as_of: str, known_at: str, hops: int = HOPS
) -> dict[str, Any]:
    """``exposureGraph(entityIds: [id], hops) { nodes edges }``: one ``queries.graph`` call."""
    g = await run(
        queries.graph,
        state.ledger.engine,
        parse_instant(as_of),
        parse_instant(known_at),
        "HEADLINE",
        entity_ids=[entity_id],
        hops=hops,
    )
    return {
        "exposureGraph": {
            "nodes": [
                {
                    "id": n.entity_id,
                    "name": n.name,
                    "kind": n.kind,
                    "valuationUsd": _decimal(n.valuation_usd),
                }
                for n in g.nodes.values()
            ],
            "edges": [
                {
                    "dealId": e.deal_id,
                    "leg": e.leg,
                    "instrument": e.instrument,
                    "amountUsd": _decimal(e.amount_usd),
                    "capacityGw": _decimal(e.capacity_gw),
                    "shares": _decimal(e.shares),
                    "payerId": e.payer,
                    "payeeId": e.payee,
                }
                for e in g.edges
            ],
        }
    }


def build_app(ledger: Any) -> Litestar:
    from api.app import create_app

    # The read models are complete and nothing is appended: no follower needed.
    app = create_app(ledger, project=False)
    app.register(plain_entity)
    app.register(plain_graph)
    return app


def serve(url: str, owner_url: str, port: int) -> None:
    """The server process: the ledger's service plus the plain routes, uvicorn, one worker."""
    import uvicorn

    from ledger.runtime import open_ledger
    from ledger.settings import Settings

    settings = Settings(
        database_url=url,
        owner_database_url=owner_url,
        app_role=APP_ROLE,
        migrate_on_start=False,
        log_level="warning",
    )
    with contextlib.suppress(ImportError):  # the service's JSON logs, as `ledger serve`
        from api.observability import configure_logging

        # warning: no access line per request (it would cost both sides the same)
        configure_logging(settings.log_level)
    with open_ledger(settings) as ledger:
        uvicorn.run(
            build_app(ledger),
            host="127.0.0.1",
            port=port,
            workers=1,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )


# -- the ledger -----------------------------------------------------------------------------------


def prepare_ledger(args: argparse.Namespace, console: Console, stack: contextlib.ExitStack):
    """The database URL of the synthetic ledger (made as bench/queries.py makes it, unless
    ``--reuse`` finds it), the admin connection, whether the server is embedded, and facts
    about the ledger."""
    from ledger.projections.projector import Projector
    from ledger.projections.rebuild import rebuild
    from ledger.store import EventStore
    from ledger.store.engine import make_engine
    from ledger.store.migrate import upgrade
    from ledger.synth import synth

    url, admin, embedded, fresh = open_bench_database(args, stack)
    owner = make_engine(url, pool_size=1)
    upgrade(owner, app_role=APP_ROLE)
    engine = make_engine(url, app_role=APP_ROLE, pool_size=1)
    store = EventStore(engine)
    if store.head().position == 0:
        with console.status(f"synthesising {args.events:,} events"):
            synth(
                store, events=args.events, entities=args.entities, deals=args.deals, seed=args.seed
            )
    lag = Projector(engine, store).status().lag
    if lag:
        with console.status(f"rebuilding the read models ({lag:,} events behind)"):
            rebuild(owner, app_role=APP_ROLE)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    head = store.head().position
    engine.dispose()
    owner.dispose()
    return url, admin, embedded is not None, {"events": head, "synthesised": fresh}


# -- the load -------------------------------------------------------------------------------------


class Questions:
    """One seeded, endless sequence of (entity, asOf, knownAt), drawn in order by all clients
    of a scenario: two scenarios with the same seed ask the same questions in the same order."""

    def __init__(self, entity_ids: list[str], recorded: tuple[dt.datetime, dt.datetime], seed):
        self.rng = random.Random(seed)
        self.entity_ids = entity_ids
        self.recorded = recorded
        self.asked: list[tuple[str, str, str]] = []

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        while len(self.asked) <= i:
            rng, (first, last) = self.rng, self.recorded
            entity_id = rng.choice(self.entity_ids)
            as_of = START + dt.timedelta(days=rng.randint(0, 3 * 365))
            known_at = first + (last - first) * rng.random()
            self.asked.append((entity_id, serialize_instant(as_of), serialize_instant(known_at)))
        return self.asked[i]


def request_for(kind: str, via: str, question: tuple[str, str, str]) -> tuple[str, str, dict]:
    entity_id, as_of, known_at = question
    if via == "graphql":
        if kind == "entity":
            variables = {"id": entity_id, "asOf": as_of, "knownAt": known_at}
            body = {"query": ENTITY_QUERY, "variables": variables}
        else:
            variables = {"ids": [entity_id], "hops": HOPS, "asOf": as_of, "knownAt": known_at}
            body = {"query": GRAPH_QUERY, "variables": variables}
        return "POST", "/graphql", {"content": orjson.dumps(body), "headers": JSON_HEADERS}
    params = {"as_of": as_of, "known_at": known_at}
    if kind == "entity":
        return "GET", f"/plain/entity/{entity_id}", {"params": params}
    return "GET", "/plain/graph", {"params": params | {"entity_id": entity_id, "hops": HOPS}}


def answer_of(kind: str, via: str, response: httpx.Response) -> tuple[Any, str | None]:
    """(the answer's data, an error or None)."""
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}: {response.text[:200]}"
    body = orjson.loads(response.content)
    if via == "graphql":
        if body.get("errors"):
            return None, "GraphQL: " + "; ".join(e.get("message", "?") for e in body["errors"])
        body = body.get("data") or {}
    return body.get("entity" if kind == "entity" else "exposureGraph"), None


def size_of(kind: str, answer: Any) -> int:
    """Nodes of a graph; legs (exposures) of an entity; -1 for no entity."""
    if answer is None:
        return -1
    if kind == "graph":
        return len(answer["nodes"])
    exposures = answer["exposures"]
    return len(exposures["outgoing"]) + len(exposures["incoming"])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def check_same(base: str, questions: Questions, kind: str, count: int) -> dict[str, int]:
    """Ask the first ``count`` questions both ways, one at a time: the answers must be equal."""
    same = differ = 0
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for i in range(count):
            answers = []
            for via in ("graphql", "plain"):
                method, path, extra = request_for(kind, via, questions[i])
                answer, error = answer_of(kind, via, await client.request(method, path, **extra))
                if error:
                    raise SystemExit(f"{kind} via {via}, question {questions[i]}: {error}")
                answers.append(answer)
            if answers[0] == answers[1]:
                same += 1
            else:
                differ += 1
    return {"same": same, "different": differ}


async def load(
    base: str, kind: str, via: str, questions: Questions, clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` clients asking the next question as soon as they have an answer, for
    ``seconds``; requests under way at the end are waited for and counted."""
    next_question = itertools.count()
    samples: list[tuple[int, float, int]] = []  # (question index, latency ms, answer size)
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                index = next(next_question)
                method, path, extra = request_for(kind, via, questions[index])
                sent = time.perf_counter()
                try:
                    response = await client.request(method, path, **extra)
                    answer, error = answer_of(kind, via, response)
                except httpx.HTTPError as exc:
                    answer, error = None, f"{type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - sent) * 1000
                if error:
                    errors.append(error)
                else:
                    samples.append((index, elapsed, size_of(kind, answer)))

        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"samples": samples, "errors": errors, "wall": wall}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(kind: str, result: dict[str, Any], server_cpu: float) -> dict[str, Any]:
    samples, errors = result["samples"], result["errors"]
    latencies = [ms for _, ms, _ in samples]
    done = len(samples) + len(errors)
    out: dict[str, Any] = {
        "requests": done,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "seconds": result["wall"],
        "requests_per_second": done / result["wall"],
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "server_cpu_ms_per_request": 1000 * server_cpu / max(done, 1),
    }
    if kind == "entity":
        out["no_entity_at_that_time"] = sum(1 for _, _, n in samples if n < 0)
    else:
        small = [ms for _, ms, n in samples if n <= LARGE_ANSWER_NODES]
        out["large_answers"] = len(samples) - len(small)
        out["small_answers_p50_ms"] = statistics.median(small) if small else float("nan")
        out["small_answers_p99_ms"] = percentile(small, 99)
        sizes = [n for _, _, n in samples]
        out["nodes_p50"] = statistics.median(sizes) if sizes else 0
        out["nodes_max"] = max(sizes, default=0)
    return out


# -- the run --------------------------------------------------------------------------------------


def same_questions(graphql: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    """p50 / p99 of both sides over the questions both answered (each side answers the first
    n of the sequence, n depending on its speed): the same mix of small and large answers."""
    common = min(len(graphql["samples"]), len(plain["samples"]))
    out: dict[str, Any] = {"questions": common}
    for via, result in (("graphql", graphql), ("plain", plain)):
        latencies = [ms for i, ms, _ in result["samples"] if i < common]
        out[via] = {"p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99)}
    out["p50_ratio"] = out["graphql"]["p50_ms"] / out["plain"]["p50_ms"]
    out["p99_ratio"] = out["graphql"]["p99_ms"] / out["plain"]["p99_ms"]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    url: str, owner_url: str, log: Path, stack: contextlib.ExitStack
) -> tuple[str, int]:
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    output = stack.enter_context(log.open("w"))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--url", url, "--owner-url", owner_url,
         "--port", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()

    stack.callback(stop)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}: see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return base, server.pid
        time.sleep(0.1)
    raise SystemExit("the server did not become ready within a minute")


def versions() -> dict[str, str]:
    out = {}
    for name in ("litestar", "strawberry-graphql", "uvicorn", "httpx", "h11", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="per entity scenario")
    parser.add_argument(
        "--graph-seconds",
        type=float,
        default=60.0,
        help="per two-hop scenario (a few requests a second: hubs take seconds)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded seconds before each")
    parser.add_argument("--check", type=int, default=20, help="answers compared before the load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=1_000_000, help="if synthesised")
    parser.add_argument("--entities", type=int, default=10_000, help="if synthesised")
    parser.add_argument("--deals", type=int, default=100_000, help="if synthesised")
    parser.add_argument("--database-url", help="a superuser URL (default: embedded PG 18)")
    parser.add_argument("--reuse", action="store_true", help="keep and reuse bench_queries")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--owner-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


SCENARIOS = (
    ("entity", "graphql", "entity exposures", "GraphQL"),
    ("entity", "plain", "entity exposures", "plain route"),
    ("graph", "graphql", f"graph around an entity, {HOPS} hops", "GraphQL"),
    ("graph", "plain", f"graph around an entity, {HOPS} hops", "plain route"),
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.url, args.owner_url, args.port)
        return 0
    console = Console(width=None if sys.stdout.isatty() else 120)
    with contextlib.ExitStack() as stack:
        url, admin, embedded, ledger_facts = prepare_ledger(args, console, stack)
        with psycopg.connect(url) as conn:
            entity_ids = [
                r[0] for r in conn.execute("SELECT DISTINCT entity_id FROM rm_entities ORDER BY 1")
            ]
            recorded = conn.execute("SELECT min(recorded_at), max(recorded_at) FROM events")
            recorded = tuple(recorded.fetchone())
        with console.status("starting the server"):
            server_log = args.output.with_suffix(".server.log")
            base, pid = start_server(url, url, server_log, stack)
        console.print(f"server: uvicorn, 1 worker, pid {pid}, {base}; its log: {server_log}")

        questions = {
            kind: Questions(entity_ids, recorded, f"{args.seed}/{kind}")
            for kind in ("entity", "graph")
        }
        checked = {}
        with console.status("checking that GraphQL and the plain routes answer alike"):
            for kind in ("entity", "graph"):
                checked[kind] = asyncio.run(check_same(base, questions[kind], kind, args.check))
        console.print(f"answers compared: {checked}")

        load_at_start = os.getloadavg()  # the machine is shared: how busy it was
        figures: dict[str, dict[str, Any]] = {}
        raw: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, via, name, label in SCENARIOS:
            seconds = args.seconds if kind == "entity" else args.graph_seconds
            # The warm-up asks other questions (its own seed) so the measured ones start cold
            # alike for both sides.
            warm = Questions(entity_ids, recorded, f"{args.seed}/{kind}/warm-up")
            with console.status(f"{name} via {label}: warming up"):
                asyncio.run(load(base, kind, via, warm, args.clients, args.warmup))
            with console.status(f"{name} via {label}: {seconds:g} s"):
                cpu = cpu_seconds(pid)
                result = asyncio.run(load(base, kind, via, questions[kind], args.clients, seconds))
                cpu = cpu_seconds(pid) - cpu
            raw[kind, via] = result
            figures.setdefault(kind, {"question": name})[via] = summary(kind, result, cpu)
            f = figures[kind][via]
            console.print(
                f"{name} via {label}: {f['requests_per_second']:.1f} req/s, "
                f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, {f['errors']} errors"
            )

        table = Table(
            title=f"API over {ledger_facts['events']:,} events, {args.clients} clients, "
            f"{args.seconds:g} s per entity scenario, {args.graph_seconds:g} s per two-hop one "
            "(uvicorn, 1 worker)"
        )
        for column in (
            "question", "via", "requests", "req/s", "p50 ms", "p99 ms", "server CPU ms/req",
            "errors",
        ):  # fmt: skip
            table.add_column(column, justify="left" if column in ("question", "via") else "right")
        for kind, row in figures.items():
            for via, label in (("graphql", "GraphQL"), ("plain", "plain route")):
                f = row[via]
                table.add_row(
                    row["question"], label, f"{f['requests']:,}", f"{f['requests_per_second']:.1f}",
                    f"{f['p50_ms']:.1f}", f"{f['p99_ms']:.1f}",
                    f"{f['server_cpu_ms_per_request']:.1f}", str(f["errors"]),
                )  # fmt: skip
            gql, plain = row["graphql"], row["plain"]
            row["same_questions"] = same_questions(raw[kind, "graphql"], raw[kind, "plain"])
            row["overhead"] = {
                "p50": gql["p50_ms"] / plain["p50_ms"],
                "p99": gql["p99_ms"] / plain["p99_ms"],
                "p50_same_questions": row["same_questions"]["p50_ratio"],
                "p99_same_questions": row["same_questions"]["p99_ratio"],
                "throughput": plain["requests_per_second"] / gql["requests_per_second"],
                "server_cpu_per_request": gql["server_cpu_ms_per_request"]
                / plain["server_cpu_ms_per_request"],
            }
            if kind == "graph":
                row["overhead"]["small_answers_p50"] = (
                    gql["small_answers_p50_ms"] / plain["small_answers_p50_ms"]
                )
                row["overhead"]["small_answers_p99"] = (
                    gql["small_answers_p99_ms"] / plain["small_answers_p99_ms"]
                )
        console.print(table)

        ratios = Table(
            title=f"GraphQL overhead (GraphQL / plain route; target < {TARGET_OVERHEAD}x)"
        )
        for column in (
            "question", "p50", "p99", "p50, same questions", "p99, same questions",
            "throughput", "server CPU/req", "met", "errors",
        ):  # fmt: skip
            ratios.add_column(column, justify="left" if column == "question" else "right")
        met_all = True
        for row in figures.values():
            o = row["overhead"]
            errors = row["graphql"]["errors"] + row["plain"]["errors"]
            met = o["p50"] < TARGET_OVERHEAD and o["throughput"] < TARGET_OVERHEAD and not errors
            row["target_met"] = met
            met_all &= met
            ratios.add_row(
                row["question"], f"{o['p50']:.2f}x", f"{o['p99']:.2f}x",
                f"{o['p50_same_questions']:.2f}x", f"{o['p99_same_questions']:.2f}x",
                f"{o['throughput']:.2f}x",
                f"{o['server_cpu_per_request']:.2f}x", "yes" if met else "no", str(errors),
            )  # fmt: skip
        console.print(ratios)
        graph = figures["graph"]
        console.print(
            f"two hops: answers with more than {LARGE_ANSWER_NODES} nodes (hubs): "
            f"GraphQL {graph['graphql']['large_answers']}, plain {graph['plain']['large_answers']};"
            f" without them p50 / p99: GraphQL {graph['graphql']['small_answers_p50_ms']:.1f} / "
            f"{graph['graphql']['small_answers_p99_ms']:.1f} ms, plain "
            f"{graph['plain']['small_answers_p50_ms']:.1f} / "
            f"{graph['plain']['small_answers_p99_ms']:.1f} ms"
        )

        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(["python", "bench/api.py", *(argv or sys.argv[1:])]),
            "machine": machine_facts()
            | {
                "load_generator": "same machine, asyncio + httpx",
                "load_average_1_5_15_min_at_start": load_at_start,
                "load_average_1_5_15_min_at_end": os.getloadavg(),
            },
            "server": server_facts(admin, embedded),
            "http_server": {"uvicorn_workers": 1, "packages": versions()},
            "ledger": ledger_facts | {"entities": len(entity_ids)},
            "clients": args.clients,
            "seconds_per_scenario": {"entity": args.seconds, "graph": args.graph_seconds},
            "warmup_seconds": args.warmup,
            "answers_compared": checked,
            "queries": {"entity": ENTITY_QUERY.strip(), "graph": GRAPH_QUERY.strip()},
            "figures": figures,
            "target_overhead": TARGET_OVERHEAD,
            "target_met": met_all,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
