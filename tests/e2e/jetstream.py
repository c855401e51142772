"""A NATS server with JetStream of the test's own, and reading a JetStream stream back whole."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.e2e.processes import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """``nats-server -js`` on a free loopback port, storing under ``directory``; ``start``
    returns once the server says it is ready."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        if not Path(NATS_SERVER).exists():
            if os.environ.get("LEDGER_TEST_REQUIRE_NATS"):  # CI: a missing server is a failure
                pytest.fail("nats-server is not installed")
            pytest.skip("nats-server is not installed (.ci/run installs it)")
        self.process = subprocess.Popen(
            [
                NATS_SERVER,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:  # the server logs to stderr; ready is its last word
            self.output.append(line)
            if "Server is ready" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("nats-server exited:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.output.append(line)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def restart(self) -> NatsServer:
        """Stop and start again on the same port with the same store (JetStream keeps it)."""
        self.stop()
        self.output = []
        return self.start()


@dataclass(frozen=True)
class Message:
    sequence: int
    subject: str
    headers: dict[str, str]
    data: bytes


async def _read(
    url: str, stream: str, subjects: str, timeout: float, until: int | None
) -> list[Message]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = until or (await js.stream_info(stream)).state.last_seq
        messages: list[Message] = []
        if last == 0:
            return messages
        done = asyncio.get_running_loop().create_future()

        async def take(msg: Any) -> None:
            meta = msg.metadata
            messages.append(
                Message(meta.sequence.stream, msg.subject, dict(msg.headers or {}), msg.data)
            )
            if meta.sequence.stream >= last and not done.done():
                done.set_result(None)

        sub = await js.subscribe(subjects, stream=stream, ordered_consumer=True, cb=take)
        await asyncio.wait_for(done, timeout)
        await sub.unsubscribe()
        return messages
    finally:
        await nc.close()


def read_stream(
    url: str,
    stream: str = "LEDGER",
    subjects: str = "ledger.>",
    timeout: float = 60,
    until: int | None = None,
) -> list[Message]:
    """Every message of ``stream`` in sequence order, with its sequence, subject and headers;
    with ``until``, once the stream has reached that sequence (awaited, not polled)."""
    return asyncio.run(_read(url, stream, subjects, timeout, until))


async def _last_sequence(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.last_seq
    finally:
        await nc.close()


def last_sequence(url: str, stream: str = "LEDGER") -> int:
    return asyncio.run(_last_sequence(url, stream))
