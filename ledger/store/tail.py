"""Following the log as it grows, for many async readers at once (GraphQL subscriptions).

One reader task per process LISTENs for the ``ledger_appended`` notification that every append
sends with its commit, reads the new events by position (gap-safe, see docs/ordering) into a
ring of the most recent ones, and wakes the followers. Each follower keeps its *own* position
and takes its next events from the ring, or from the database when it has fallen behind the
ring. So a slow follower -- a client that reads its websocket slowly -- delays nobody: the
reader never waits for followers, and nothing is dropped, only read later.

A missed notification (a dropped LISTEN connection) costs at most ``poll_seconds``: the reader
also polls, and reconnects with a back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from functools import partial

import psycopg
import structlog

from ..domain.envelope import RecordedEvent
from .event_store import APPENDED_CHANNEL, EventStore

log = structlog.get_logger(__name__)

READ_BATCH = 1000


class Tail:
    def __init__(
        self,
        store: EventStore,
        listen_url: str,
        *,
        ring_size: int = 10_000,
        poll_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.listen_url = listen_url
        self.poll_seconds = poll_seconds
        self.ring: deque[RecordedEvent] = deque(maxlen=ring_size)
        self.head = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.followers = 0

    async def start(self) -> None:
        self.head = (await asyncio.to_thread(self.store.head)).position
        self._task = asyncio.create_task(self._run(), name="ledger-tail")

    async def stop(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._changed:
            self._changed.notify_all()

    async def follow(self, after: int | None = None) -> AsyncIterator[RecordedEvent]:
        """Every event after position ``after`` (default: the head now), in order, forever."""
        position = self.head if after is None else after
        self.followers += 1
        try:
            while not self._closed:
                async with self._changed:
                    await self._changed.wait_for(partial(self._beyond, position))
                if self._closed:
                    return
                for event in await self._after(position):
                    yield event
                    position = event.position
        finally:
            self.followers -= 1

    def _beyond(self, position: int) -> bool:
        return self.head > position or self._closed

    async def _after(self, position: int) -> list[RecordedEvent]:
        ring = self.ring
        if ring and ring[0].position <= position + 1:
            start = position + 1 - ring[0].position
            return [ring[i] for i in range(start, min(len(ring), start + READ_BATCH))]
        return await asyncio.to_thread(self.store.read, position, READ_BATCH)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.listen_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {APPENDED_CHANNEL}")
                    backoff = 0.1
                    await self._catch_up()
                    while not self._closed:
                        async for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
                        await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: keep trying, say so
                log.warning("tail.reconnecting", error=str(exc).splitlines()[0], retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _catch_up(self) -> None:
        while True:
            batch = await asyncio.to_thread(self.store.read, self.head, READ_BATCH)
            if not batch:
                return
            self.ring.extend(batch)
            async with self._changed:
                self.head = batch[-1].position
                self._changed.notify_all()
            if len(batch) < READ_BATCH:
                return
