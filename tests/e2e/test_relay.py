"""``ledger relay`` against a real nats-server with JetStream and a real PostgreSQL: message n
of the stream is the event at position n, live appends follow, a killed relay resumes with no
gap and no duplicate, and a stream that is not this ledger's log is refused."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import psycopg
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from ledger.domain.jsonl import format_recorded
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.e2e.jetstream import Message, NatsServer, last_sequence, read_stream
from tests.e2e.processes import LEDGER, clean_env, run_ledger
from tests.factories import fill, registered, valuation

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream").start()
    try:
        yield server
    finally:
        server.stop()


class RelayProcess:
    """``ledger relay`` in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, database: TestDatabase, broker: NatsServer, *args: str) -> None:
        self.process = subprocess.Popen(
            [LEDGER, "relay", "--nats-url", broker.url, *args],
            env=clean_env(LEDGER_DATABASE_URL=database.libpq_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"relay never printed {text!r}:\n{''.join(self.output)}"
                ) from None
            if line is None:
                raise AssertionError(f"relay exited before {text!r}:\n{''.join(self.output)}")
            if text in line:
                return line

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def __enter__(self) -> RelayProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def create_stream(url: str, subjects: str = "ledger.>") -> None:
    async def create() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(name="LEDGER", subjects=[subjects])
        finally:
            await nc.close()

    asyncio.run(create())


def assert_stream_is_the_log(messages: list[Message], store: EventStore) -> None:
    """Message n is the event at position n: its id, subject and exported line."""
    events = list(store.iter_events())
    assert [m.sequence for m in messages] == list(range(1, len(events) + 1))
    for message, event in zip(messages, events, strict=True):
        assert message.headers["Nats-Msg-Id"] == str(event.event_id)
        assert message.subject == f"ledger.{event.type}"
        assert message.data == format_recorded(event)
        assert orjson.loads(message.data)["position"] == message.sequence


async def append_and_receive(url: str, store: EventStore, entity_id: str) -> Message:
    """Append an event and await its message in the stream (no poll, no sleep)."""
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    try:
        received: asyncio.Queue[Message] = asyncio.Queue()

        async def take(msg: Any) -> None:
            meta = msg.metadata
            message = Message(meta.sequence.stream, msg.subject, dict(msg.headers or {}), msg.data)
            await received.put(message)

        await nc.jetstream().subscribe(
            "ledger.>", stream="LEDGER", ordered_consumer=True, cb=take, deliver_policy="new"
        )
        await asyncio.to_thread(store.append, f"entity/{entity_id}", [registered(entity_id)])
        return await asyncio.wait_for(received.get(), 90)
    finally:
        await nc.close()


def test_the_relay_publishes_the_log_with_sequence_equal_to_position_then_follows_it_live(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    fill(store, entities=5, valuations=20, deals=10)
    head = store.head().position
    with RelayProcess(database, broker) as relay:
        assert f"at position {head:,}; following" in relay.wait_for("following the log")
        assert_stream_is_the_log(read_stream(broker.url), store)

        # A new append reaches the stream without a poll: await its message.
        live = asyncio.run(append_and_receive(broker.url, store, "live"))
        (event,) = store.read(head, 1)
        assert live.sequence == event.position == head + 1
        assert live.headers["Nats-Msg-Id"] == str(event.event_id)
        assert live.subject == "ledger.EntityRegistered"
        assert relay.stop(signal.SIGTERM) == 0
        assert f"relay stopped at position {head + 1:,}" in "".join(relay.output)
    assert_stream_is_the_log(read_stream(broker.url), store)


def test_the_relay_rides_out_a_lost_database_connection_and_a_nats_restart(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    store.append("entity/a", [registered("a")])
    with RelayProcess(database, broker) as relay:
        relay.wait_for("following the log")
        with psycopg.connect(database.libpq_url, autocommit=True) as conn:  # as a failover does
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert asyncio.run(append_and_receive(broker.url, store, "b")).sequence == 2
        relay.wait_for("relay.retrying")  # it noticed, and said so

        broker.restart()
        assert asyncio.run(append_and_receive(broker.url, store, "c")).sequence == 3

        # A broker that lost its store: the relay makes the stream again and fills it from 1.
        broker.stop()
        shutil.rmtree(broker.directory)
        broker.start()
        create_stream(broker.url)  # as the relay does (the same config), so we can listen
        store.append("entity/d", [registered("d")])
        assert_stream_is_the_log(read_stream(broker.url, until=4), store)
        assert relay.process.poll() is None
        assert relay.stop() == 0
    assert_stream_is_the_log(read_stream(broker.url), store)


def test_a_relay_killed_mid_catch_up_resumes_with_no_gap_and_no_duplicate(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    fill(store, entities=40, valuations=150, deals=100)
    head = store.head().position

    async def kill_when_published(process: subprocess.Popen[str], at: int) -> int:
        """SIGKILL the relay as soon as message ``at`` is in the stream."""
        nc = await nats.connect(broker.url)
        try:
            reached = asyncio.get_running_loop().create_future()

            async def take(msg: object) -> None:
                if msg.metadata.sequence.stream >= at and not reached.done():  # type: ignore[attr-defined]
                    os.kill(process.pid, signal.SIGKILL)
                    reached.set_result(None)

            js = nc.jetstream()
            await js.subscribe("ledger.>", stream="LEDGER", ordered_consumer=True, cb=take)
            await asyncio.wait_for(reached, 120)
            return (await js.stream_info("LEDGER")).state.last_seq
        finally:
            await nc.close()

    create_stream(broker.url)  # as the relay would, so the test can listen before it starts
    with RelayProcess(database, broker, "--batch-size", "100") as relay:
        killed_at = asyncio.run(kill_when_published(relay.process, head // 10))
        assert relay.process.wait(timeout=60) == -signal.SIGKILL
    assert head // 10 <= killed_at < head, "the relay finished before it was killed"

    store.append("entity/after", [registered("after"), valuation("1000", "after")])
    resumed_head = store.head().position
    with RelayProcess(database, broker) as relay:
        relay.wait_for("following the log")
        assert relay.stop(signal.SIGINT) == 0
    # Catching up a long way, it says how far it is.
    assert f"relayed position {resumed_head:,} of {resumed_head:,}" in "".join(relay.output)
    assert last_sequence(broker.url) == resumed_head
    messages = read_stream(broker.url)
    assert len({m.headers["Nats-Msg-Id"] for m in messages}) == len(messages)
    assert_stream_is_the_log(messages, store)

    # A consumer resumes as docs/scale-out.md says: from its last position + 1.
    async def resume_after(last: int, count: int) -> list[int]:
        nc = await nats.connect(broker.url)
        try:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1
            )
            sub = await nc.jetstream().subscribe(
                "ledger.>", stream="LEDGER", durable="docs-consumer", config=config
            )
            positions = []
            async for msg in sub.messages:
                event = orjson.loads(msg.data)
                assert msg.metadata.sequence.stream == event["position"] == last + 1
                last = event["position"]
                positions.append(last)
                await msg.ack()
                if len(positions) == count:
                    return positions
            raise AssertionError("the subscription ended")
        finally:
            await nc.close()

    count = min(100, resumed_head - killed_at)
    resumed = asyncio.run(asyncio.wait_for(resume_after(killed_at, count), 60))
    assert resumed == list(range(killed_at + 1, killed_at + count + 1))


def test_a_stream_ahead_of_the_log_is_refused_and_nothing_published(
    database: TestDatabase, second_database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    fill(store, entities=3, valuations=5, deals=2)
    with RelayProcess(database, broker) as relay:
        relay.wait_for("following the log")
        relay.stop()
    before = last_sequence(broker.url)

    other = EventStore(second_database.app_engine)
    other.append("entity/other", [registered("other")])
    refused = run_ledger(
        "relay",
        "--nats-url",
        broker.url,
        env=clean_env(LEDGER_DATABASE_URL=second_database.libpq_url),
    )
    assert refused.returncode == 1, refused.stderr
    assert f"ends at sequence {before:,} but the ledger's head is position 1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert last_sequence(broker.url) == before


def test_a_stream_of_another_log_is_refused_where_its_last_message_differs(
    database: TestDatabase, second_database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    store.append("entity/a", [registered("a")])
    with RelayProcess(database, broker) as relay:
        relay.wait_for("following the log")
        relay.stop()

    other = EventStore(second_database.app_engine)
    other.append("entity/b", [registered("b"), valuation("1000", "b")])
    refused = run_ledger(
        "relay",
        "--nats-url",
        broker.url,
        env=clean_env(LEDGER_DATABASE_URL=second_database.libpq_url),
    )
    assert refused.returncode == 1, refused.stderr
    assert "is not this ledger's log" in refused.stderr and "sequence 1" in refused.stderr
    assert last_sequence(broker.url) == 1


def test_a_foreign_message_in_the_stream_stops_the_relay_at_its_next_publish_and_says_what(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    store.append("entity/a", [registered("a")])
    with RelayProcess(database, broker) as relay:
        relay.wait_for("following the log")

        async def intrude(message_id: str) -> None:
            nc = await nats.connect(broker.url)
            try:
                await nc.jetstream().publish(
                    "ledger.Intruder", b"{}", headers={"Nats-Msg-Id": message_id}
                )
            finally:
                await nc.close()

        intruder = str(uuid.uuid4())
        asyncio.run(intrude(intruder))
        (event,) = store.append("entity/b", [registered("b")])
        try:
            code = relay.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("".join(relay.output)) from None
        assert code == 1
    stderr = "".join(relay.output)
    # JetStream refused the relay's publish; the relay looked at what the stream holds now.
    assert f"holds message {intruder} at sequence 2" in stderr
    assert f"the ledger's event at position 2 is {event.event_id}" in stderr
    assert last_sequence(broker.url) == 2  # the intruder's, not the ledger's


def test_two_relays_at_once_still_make_one_stream_equal_to_the_log(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    """A second relay (a standby, a mistake) is harmless: each publish lands at its position
    or is refused, and the refused one resumes from what the other stored."""
    fill(store, entities=20, valuations=100, deals=50)
    create_stream(broker.url)
    with (
        RelayProcess(database, broker, "--batch-size", "100") as first,
        RelayProcess(database, broker, "--batch-size", "100") as second,
    ):
        first.wait_for("following the log")
        second.wait_for("following the log")
        store.append("entity/live", [registered("live")])
        head = store.head().position
        assert_stream_is_the_log(read_stream(broker.url, until=head), store)
        assert first.stop() == 0 and second.stop() == 0
    assert last_sequence(broker.url) == head


def test_a_stream_taking_other_subjects_is_refused(
    database: TestDatabase, store: EventStore, broker: NatsServer
) -> None:
    create_stream(broker.url, "orders.>")
    refused = run_ledger(
        "relay", "--nats-url", broker.url, env=clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    )
    assert refused.returncode == 1, refused.stderr
    assert "not a ledger relay's stream" in refused.stderr


def test_no_broker_and_no_url_are_clear_errors(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    unreachable = run_ledger("relay", "--nats-url", "nats://127.0.0.1:1", env=env)
    assert unreachable.returncode == 1 and "cannot reach NATS" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    unnamed = run_ledger("relay", env=env)
    assert unnamed.returncode == 2 and "LEDGER_NATS_URL" in unnamed.stderr
