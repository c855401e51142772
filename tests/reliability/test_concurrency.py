"""Concurrency: writer processes race for overlapping streams while projectors and a subscriber
follow, and afterwards every party agrees on one history.

Sizes (CI default, the issue's size in docs/reliability.md): ``LEDGER_TEST_RELIABILITY_WRITERS``
processes (8) each get ``LEDGER_TEST_RELIABILITY_EVENTS`` events acknowledged (500; 10,000) in
batches of one to five, into ``LEDGER_TEST_RELIABILITY_STREAMS`` shared streams (6).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import text

from ledger.domain.errors import VersionConflict
from ledger.projections.digest import digest
from ledger.projections.follower import Follower
from ledger.projections.projector import Projector
from ledger.projections.rebuild import rebuild
from ledger.store import EventStore
from ledger.store.engine import make_engine
from ledger.store.verify import verify
from tests.conftest import APP_ROLE, TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.factories import registered, valuation
from tests.reliability.conftest import size, wait_until

pytestmark = pytest.mark.reliability

WRITERS = size("WRITERS", 8)
EVENTS = size("EVENTS", 500)  # acknowledged events per writer
STREAMS = size("STREAMS", 6)

SUBSCRIBE = "subscription { eventRecorded(afterPosition: 0) { position eventId hash } }"


# -- the writers: separate processes, each with its own connection --------------------------


def write(
    number: int, url: str, seed: int, events: int, streams: int, record: Path, start: Any
) -> None:
    """Append until ``events`` of this writer's events are acknowledged; log every outcome.

    Each append names one of the shared streams and an expected version drawn at random: none
    (append wherever the stream is), the version this writer last saw (stale whenever another
    writer got there since), or that version give or take two (often impossible). An outcome
    is written to ``record`` only once the store has answered: an "ack" is an append that
    returned, a "conflict" one that raised ``VersionConflict``.
    """
    rng = random.Random(f"{seed}/writer/{number}")
    store = EventStore(make_engine(url, app_role=APP_ROLE, pool_size=1))
    seen: dict[str, int] = {}  # stream -> the last version this writer learnt of
    acknowledged = 0
    start.wait(timeout=300)  # all writers set up, the race begins
    with record.open("w") as out:
        while acknowledged < events:
            entity_id = f"shared-{rng.randrange(streams)}"
            stream = f"entity/{entity_id}"
            batch = [
                registered(entity_id)
                if rng.random() < 0.1
                else valuation(str(rng.randrange(10**9, 10**12)), entity_id)
                for _ in range(min(rng.randint(1, 5), events - acknowledged))
            ]
            known = seen.get(stream, 0)
            expected = rng.choice(
                [None, known, known, max(0, known + rng.randint(-2, 2))],
            )
            line: dict[str, Any] = {"stream": stream, "expected": expected}
            try:
                recorded = store.append(stream, batch, expected_version=expected)
            except VersionConflict as conflict:
                seen[stream] = conflict.current
                line |= {"conflict": [str(e.event_id) for e in batch], "current": conflict.current}
            else:
                seen[stream] = recorded[-1].stream_version
                acknowledged += len(recorded)
                line["ack"] = [[str(e.event_id), e.position, e.stream_version] for e in recorded]
            out.write(json.dumps(line) + "\n")
    store.engine.dispose()


@dataclass
class Outcomes:
    """What the writers were told, from their records."""

    acks: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, records: list[Path]) -> Outcomes:
        outcomes = cls()
        for record in records:
            for line in record.read_text().splitlines():
                entry = json.loads(line)
                (outcomes.acks if "ack" in entry else outcomes.conflicts).append(entry)
        return outcomes

    @property
    def acknowledged(self) -> dict[str, tuple[int, str, int]]:
        """event id -> (position, stream, stream version), as each append's answer said."""
        return {
            event_id: (position, ack["stream"], version)
            for ack in self.acks
            for event_id, position, version in ack["ack"]
        }


# -- the subscriber: a websocket client of the API server, in a thread of its own ------------


class Subscriber:
    """Subscribes to ``eventRecorded`` from position 0 and keeps what arrives."""

    def __init__(self, server: Server) -> None:
        self.url = server.url.replace("http://", "ws://") + "/graphql"
        self.received: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._arrived = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._listen(),), daemon=True)

    def start(self) -> Subscriber:
        self._thread.start()
        return self

    async def _listen(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        transport = WebsocketsTransport(
            url=self.url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
        )
        try:
            async with Client(transport=transport) as session:
                async for result in session.subscribe(GraphQLRequest(SUBSCRIBE)):
                    with self._arrived:
                        self.received.append(result["eventRecorded"])
                        self._arrived.notify_all()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            with self._arrived:
                self.error = exc
                self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        with self._arrived:
            self._arrived.wait_for(
                lambda: len(self.received) >= count or self.error is not None, timeout
            )
        assert self.error is None, f"the subscription failed: {self.error!r}"
        assert len(self.received) >= count, (
            f"the subscriber received {len(self.received)} of {count} events"
        )

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=30)


def live_subscriptions(server: Server) -> int:
    return httpx.get(f"{server.url}/ready").json().get("subscriptions", 0)


# -- the test ---------------------------------------------------------------------------------


@pytest.fixture
def server(database: TestDatabase) -> Iterator[Server]:
    """``ledger serve``: the API the subscriber listens to, and a projector (its follower)."""
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as running:
        yield running


def log_of(database: TestDatabase) -> list[tuple[int, str, str, int, str]]:
    """(position, event id, stream, stream version, hash) of every stored event, in order."""
    with database.owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT position, event_id::text, stream, stream_version, hash "
                "FROM events ORDER BY position"
            )
        )
        return [tuple(row) for row in rows]


def projected_positions(database: TestDatabase) -> list[int]:
    """The position of every read-model row made from one event. The writers append only
    EntityRegistered (one row in rm_entities) and ValuationReported (one row in rm_valuations),
    so a position projected twice would show twice here, and one skipped would be missing."""
    with database.owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT position FROM rm_entities UNION ALL SELECT position FROM rm_valuations "
                "ORDER BY position"
            )
        )
        return [row[0] for row in rows]


def test_concurrent_writers_projectors_and_a_subscriber_agree_on_one_history(
    database: TestDatabase, server: Server, seed: int, tmp_path: Path
) -> None:
    """The issue's concurrency scenario. While the writer processes race, two projectors
    compete for the projector's lock (the server's follower and one in this process, in small
    batches) and a subscriber listens over websockets. Afterwards:

    * every acknowledged event is in the log exactly once, at the position and stream version
      its append answered, and nothing else is: no event of a refused append, nothing twice;
    * conflicts were reported and never silently merged: a conflict names a current version
      other than the one expected, and an append that stated version ``v`` got ``v+1 …``;
    * positions are gapless, each stream's versions run 1, 2, 3 …, and the chain verifies;
    * the projector saw every position once: its checkpoint is the head, each position
      produced exactly one read-model row (the tables' keys are event ids, so projecting a
      position twice fails instead of duplicating; the count catches a skipped one), and the
      read models equal a fresh rebuild;
    * the subscriber received every event, in order, with the hash the log holds.
    """
    store = EventStore(database.app_engine)
    # the projector in this process logs through structlog: keep it, to look at, not print
    with structlog.testing.capture_logs() as logged:
        second_projector = Follower(
            Projector(database.app_engine, store, batch_size=5), poll_seconds=0.2
        ).start()
        subscriber = Subscriber(server).start()
        wait_until(lambda: live_subscriptions(server) >= 1, "the subscription to become live")

        context = multiprocessing.get_context("spawn")
        start = context.Barrier(WRITERS + 1)
        records = [tmp_path / f"writer-{n}.jsonl" for n in range(WRITERS)]
        writers = [
            context.Process(
                target=write,
                args=(n, database.libpq_url, seed, EVENTS, STREAMS, records[n], start),
                name=f"writer-{n}",
            )
            for n in range(WRITERS)
        ]
        try:
            for process in writers:
                process.start()
            start.wait(timeout=300)
            for process in writers:
                process.join(timeout=1800)
            assert [p.exitcode for p in writers] == [0] * WRITERS, "a writer failed (stderr above)"

            head = store.head().position
            subscriber.wait_for(head, timeout=120 + head / 500)
            projector = Projector(database.app_engine, store)
            wait_until(lambda: projector.status().lag == 0, "the projectors to catch up", 120)
        finally:
            second_projector.stop()
            subscriber.stop()
            for process in writers:
                if process.is_alive():
                    process.kill()
    troubles = [entry for entry in logged if entry["log_level"] != "info"]
    assert not troubles, f"the second projector stumbled: {troubles}"

    outcomes = Outcomes.read(records)
    acknowledged = outcomes.acknowledged
    log = log_of(database)

    # Every acknowledged event exactly once, where its append said; nothing unacknowledged.
    assert len(acknowledged) == WRITERS * EVENTS
    assert [position for position, *_ in log] == list(range(1, len(log) + 1)), "a gap"
    assert Counter(event_id for _, event_id, *_ in log).most_common(1)[0][1] == 1
    in_log = {
        event_id: (position, stream, version) for position, event_id, stream, version, _ in log
    }
    assert in_log == acknowledged
    refused = {event_id for conflict in outcomes.conflicts for event_id in conflict["conflict"]}
    assert not refused & in_log.keys(), "an event of a refused append was recorded"

    # Conflicts reported, never merged.
    assert outcomes.conflicts, "the scenario produced no conflict: it tests nothing"
    assert all(c["current"] != c["expected"] for c in outcomes.conflicts)
    for ack in outcomes.acks:
        if ack["expected"] is not None:
            versions = [version for _, _, version in ack["ack"]]
            first = ack["expected"] + 1
            assert versions == list(range(first, first + len(versions))), ack
    versions_by_stream: dict[str, list[int]] = {}
    for _, _, stream, version, _ in log:
        versions_by_stream.setdefault(stream, []).append(version)
    for stream, versions in versions_by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), stream

    # The chain.
    report = verify(store)
    assert report.ok and report.checked == head, report.describe()

    # The projector: every position once, and what a rebuild makes.
    assert projector.status().checkpoint == head
    assert projected_positions(database) == list(range(1, head + 1))
    projected = digest(database.app_engine)
    rebuild(database.owner_engine, app_role=APP_ROLE)
    assert digest(database.app_engine) == projected

    # The subscriber: every event, in order, as the log holds it.
    assert [(e["position"], e["eventId"], e["hash"]) for e in subscriber.received] == [
        (position, event_id, hash_) for position, event_id, _, _, hash_ in log
    ]
    checked_appends = sum(ack["expected"] is not None for ack in outcomes.acks)
    print(
        f"{WRITERS} writers, {len(versions_by_stream)} streams: {len(acknowledged)} events "
        f"acknowledged in {len(outcomes.acks)} appends ({checked_appends} with an expected "
        f"version), {len(outcomes.conflicts)} conflicts refused; chain verified to {head}; "
        f"{head} positions projected once; {len(subscriber.received)} events to the subscriber"
    )
