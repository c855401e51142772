"""Fresh reads while the projector dies (issue 15): ``ledger projections run --batch-size N``
is SIGKILLed part-way through a backlog while reader threads ask a real ``ledger serve`` fresh
questions -- an entity at ``knownAt`` = a just-acknowledged write's ``recordedAt`` and
``atLeastPosition`` = its position. Every answer is either complete (it shows that write and
every earlier one of its entity, nothing less) or a clear retryable error (``NOT_YET_KNOWN``,
``UNAVAILABLE``); once the projector's work is taken over, every answer is complete.

How the projector is caught mid-work, without sleeps: the test holds the checkpoint row
(``FOR UPDATE``) before anything projects; the ``projections run`` subprocess takes the
projector's lock and blocks on that row, so the server's follower and the readers cannot
project while writes pile up; the row is let go, the subprocess projects one small batch at a
time (each commit moves the checkpoint), and is killed once it has moved but not reached the
head. Reads that ignored the checkpoint (answering from the read models wherever the projector
had got to) would show an older valuation here, and fail the test.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ledger.projections import statements
from ledger.projections.projector import Projector
from ledger.store import EventStore
from ledger.store.keys import create_key
from tests.conftest import TestDatabase
from tests.e2e.processes import LEDGER, Server, clean_env
from tests.factories import registered, valuation
from tests.reliability.conftest import size, wait_until

pytestmark = pytest.mark.reliability

WRITERS = 2
READERS = 3
BACKLOG = size("FRESH_BACKLOG", 400)  # events appended behind the projector's back
RETRYABLE = {"NOT_YET_KNOWN", "UNAVAILABLE"}

WRITE = """
mutation($entity: String!, $amount: Decimal!) {
  reportValuation(entityId: $entity, valuationUsd: $amount, basis: "secondary_sale",
                  effectiveAt: "2025-10-02", source: {title: "fresh reads"}) {
    __typename ... on Recorded { event { position recordedAt } } }
}
"""
READ = """
query($id: ID!, $knownAt: DateTime!, $atLeast: Int!) {
  entity(id: $id, asOf: "2026-01-01", knownAt: $knownAt, atLeastPosition: $atLeast) {
    valuationUsd valuations { valuationUsd } }
}
"""


@dataclass(frozen=True)
class Write:
    entity: str
    amounts: tuple[str, ...]  # the entity's valuations up to and including this one
    position: int
    recorded_at: str


@dataclass
class Tally:
    writes: list[Write] = field(default_factory=list)
    complete: int = 0
    retryable: dict[str, int] = field(default_factory=dict)  # error code -> count
    wrong: list[object] = field(default_factory=list)  # partial answers, surprises
    lock: threading.Lock = field(default_factory=threading.Lock)


def judge(answer: dict[str, Any], write: Write, tally: Tally) -> bool:
    """Record ``answer`` to the fresh question about ``write``; True if complete."""
    if "errors" in answer:
        code = answer["errors"][0].get("extensions", {}).get("code")
        with tally.lock:
            if code in RETRYABLE and not (answer.get("data") or {}).get("entity"):
                tally.retryable[code] = tally.retryable.get(code, 0) + 1
            else:
                tally.wrong.append(("error", write, answer))
        return False
    entity = answer["data"]["entity"]
    seen = (
        (entity or {}).get("valuationUsd"),
        [v["valuationUsd"] for v in (entity or {}).get("valuations") or []],
    )
    with tally.lock:
        if seen == (write.amounts[-1], list(write.amounts)):
            tally.complete += 1
            return True
        tally.wrong.append(("partial", write, seen))
    return False


class Traffic:
    """Writers recording valuations through the API (one entity each, sequentially) and readers
    asking the fresh question about a random acknowledged write, until ``stop``."""

    def __init__(self, url: str, key: str, tally: Tally, rng: random.Random) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
        self.tally = tally
        self.rng = rng
        self.stopping = threading.Event()
        self.problems: list[object] = []
        self.threads = [
            threading.Thread(target=self._guard, args=(self._write, f"fresh-{i}"), daemon=True)
            for i in range(WRITERS)
        ] + [
            threading.Thread(target=self._guard, args=(self._read, str(i)), daemon=True)
            for i in range(READERS)
        ]

    def start(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(120)
        self.http.close()

    def ask(self, write: Write) -> dict[str, Any]:
        variables = {"id": write.entity, "knownAt": write.recorded_at, "atLeast": write.position}
        response = self.http.post(
            "/graphql", json={"query": READ, "variables": variables}, timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()

    def _guard(self, target: Any, arg: str) -> None:
        try:
            target(arg)
        except Exception as exc:  # reported by the test
            self.problems.append(repr(exc))

    def _write(self, entity: str) -> None:
        amounts: tuple[str, ...] = ()
        while not self.stopping.is_set():
            amount = str(1000 * (len(amounts) + 1))
            response = self.http.post(
                "/graphql",
                json={"query": WRITE, "variables": {"entity": entity, "amount": amount}},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            result = response.json()["data"]["reportValuation"]
            assert result["__typename"] == "Recorded", result
            amounts += (amount,)
            event = result["event"]
            with self.tally.lock:
                self.tally.writes.append(
                    Write(entity, amounts, event["position"], event["recordedAt"])
                )

    def _read(self, name: str) -> None:
        rng = random.Random(self.rng.random())
        while not self.stopping.is_set():
            with self.tally.lock:
                writes = list(self.tally.writes[-20:])  # the freshest ones
            if writes:
                write = rng.choice(writes)
                judge(self.ask(write), write, self.tally)


@pytest.fixture
def system(database: TestDatabase) -> Iterator[dict[str, Any]]:
    store = EventStore(database.app_engine)
    for i in range(WRITERS):
        store.append(f"entity/fresh-{i}", [registered(f"fresh-{i}")])
    store.append("entity/backlog", [registered("backlog")])
    projector = Projector(database.app_engine, store)
    projector.run_once()  # the checkpoint row exists, nothing is behind
    _, key = create_key(database.owner_engine, "writer", "fresh reads")
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_READ_WAIT_MS="1000")
    parts: dict[str, Any] = {"store": store, "projector": projector, "key": key, "env": env}
    try:
        yield parts
    finally:
        for name in ("projector_process", "server_process"):
            process = parts.get(name)
            if process is not None and process.poll() is None:
                process.kill()


def test_a_projector_killed_mid_batch_never_gives_a_partial_answer(
    database: TestDatabase, system: dict[str, Any], seed: int
) -> None:
    rng = random.Random(seed)
    store: EventStore = system["store"]
    projector: Projector = system["projector"]
    env: dict[str, str] = system["env"]
    tally = Tally()

    # 1. Hold the checkpoint row; the doomed projector takes the lock and blocks on it.
    gate = database.app_engine.connect()
    gate.execute(
        text("SELECT position FROM projection_checkpoints WHERE name = :n FOR UPDATE"),
        {"n": statements.NAME},
    )
    doomed = subprocess.Popen(
        [LEDGER, "projections", "run", "--batch-size", str(rng.randint(1, 3))],
        env=env
        | {
            "LEDGER_DATABASE_URL": database.libpq_url
            + ("&" if "?" in database.libpq_url else "?")
            + "application_name=doomed-projector",
            "LEDGER_STATEMENT_TIMEOUT_MS": "0",  # it waits on the row as long as it is held
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    system["projector_process"] = doomed

    def blocked_on_the_row() -> bool:
        with database.owner_engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'doomed-projector' AND wait_event_type = 'Lock'"
                    )
                ).scalar()
            )

    wait_until(lambda: doomed.poll() is not None or blocked_on_the_row(), "the doomed projector")
    assert doomed.poll() is None, doomed.stderr.read() if doomed.stderr else ""

    # 2. The server (its follower cannot get the lock), writers and fresh readers; a backlog.
    server = Server(env).start()
    system["server_process"] = server.process
    traffic = Traffic(server.url, system["key"], tally, rng).start()
    for start in range(0, BACKLOG, 20):
        store.append(
            "entity/backlog",
            [valuation(str(n + 1), "backlog") for n in range(start, min(start + 20, BACKLOG))],
        )
    wait_until(
        lambda: traffic.problems or tally.wrong or sum(tally.retryable.values()) >= READERS,
        "fresh readers to be told NOT_YET_KNOWN while nothing can project",
    )
    # Nothing could be projected yet, so nothing could be answered completely.
    assert tally.complete == 0 and not tally.wrong, (tally.complete, tally.wrong[:3])

    # 3. Let the doomed projector work; kill it once it has moved but not reached the head.
    before = projector.status().checkpoint
    gate.rollback()
    gate.close()
    wait_until(
        lambda: doomed.poll() is not None or projector.status().checkpoint > before,
        "the doomed projector to make progress",
    )
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(30) == -signal.SIGKILL, "the projector had finished already"
    status = projector.status()
    assert status.checkpoint < status.head, "the projector had caught up before its kill"

    # 4. The server's follower (or a reader) takes over; fresh reads complete again.
    complete_before = tally.complete
    wait_until(
        lambda: traffic.problems or tally.wrong or tally.complete >= complete_before + 10 * READERS,
        "complete fresh answers after the kill",
    )
    traffic.stop()
    assert not traffic.problems, traffic.problems
    wait_until(lambda: projector.status().lag == 0, "the read models to catch up")

    # Never a partial answer, and every fresh question, asked again now, is complete.
    assert not tally.wrong, tally.wrong[:5]
    again = Traffic(server.url, system["key"], Tally(), rng)
    for write in tally.writes:
        assert judge(again.ask(write), write, again.tally), again.tally.wrong
    again.http.close()
    server.stop()
    assert tally.writes and tally.complete
    print(
        f"fresh reads: {len(tally.writes)} writes, {tally.complete} complete answers, "
        f"retryable {tally.retryable}, killed at checkpoint {status.checkpoint} of {status.head}"
    )
