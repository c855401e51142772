"""The JetStream relay across a failover: it follows the log to the new primary by itself,
and killed and restarted meanwhile it resumes where the stream ends -- message n is the event
at position n, no gap, no duplicate."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from tests.cluster.formation import Formation
from tests.cluster.test_failover import Load, _register, _wait_for_pair
from tests.e2e.jetstream import NatsServer, read_stream
from tests.e2e.processes import LEDGER
from tests.e2e.test_consistency import Api
from tests.e2e.test_relay import RelayProcess

pytestmark = pytest.mark.cluster


class _Relay(RelayProcess):
    """``ledger relay`` on the formation's read-write URL (``RelayProcess`` of the e2e suite,
    configured by the cluster's environment)."""

    def __init__(self, env: dict[str, str], broker: NatsServer) -> None:
        self.process = subprocess.Popen(
            [LEDGER, "relay", "--nats-url", broker.url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output = []
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()


def test_the_relay_follows_a_switchover_and_resumes_after_a_kill_without_gap_or_duplicate(
    formation: Formation,
    services: tuple[Api, Api],
    cluster_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _wait_for_pair(formation)
    a, _ = services
    _register(a, "relay")
    broker = NatsServer(tmp_path / "nats").start()
    relay = _Relay(cluster_env, broker)
    relay.wait_for("following the log")
    try:
        load = Load(services, "relay", readers=0)
        old = formation.primary()
        with load.running():
            load.wait_acknowledged(20)
            formation.switchover()
            _wait_for_pair(formation)
            load.wait_acknowledged(len(load.acknowledged) + 20)
            relay.stop(signal.SIGKILL)  # mid-stream, while the writers go on
            relay = _Relay(cluster_env, broker)
            relay.wait_for("following the log")
            load.wait_acknowledged(len(load.acknowledged) + 20)
        assert formation.primary().name != old.name
        assert not load.wrong, load.wrong[:3]
        with psycopg.connect(formation.primary().url) as conn:
            log = conn.execute(
                "SELECT position, event_id::text, type FROM events ORDER BY position"
            ).fetchall()
        head = log[-1][0]
        assert relay.process.poll() is None, "".join(relay.output)
        messages = read_stream(broker.url, until=head)
        assert [m.sequence for m in messages] == list(range(1, head + 1)), "no gap, no duplicate"
        for message, (position, event_id, type_) in zip(messages, log, strict=True):
            assert message.headers["Nats-Msg-Id"] == event_id, f"message {position}"
            assert message.subject.endswith("." + type_)
            assert json.loads(message.data)["position"] == position
    finally:
        relay.stop(signal.SIGKILL)
        broker.stop()
