"""``ledger relay``: the log, event by event, into a NATS JetStream stream for downstream readers.

The guarantee: message ``n`` of the JetStream stream is the event at ledger position ``n``
(the stream's sequence *is* the position), on the subject ``<prefix>.<type>``, with the
``Nats-Msg-Id`` header set to the event id and the payload the event exactly as ``ledger
export`` writes it. Every publish carries ``Nats-Expected-Last-Sequence: position - 1``, so
JetStream itself refuses a message that would not land at its position; the relay then stops
loudly (``RelayRefused``) instead of letting the stream diverge from the log.

No checkpoint of its own: on every (re)start the relay asks JetStream for the stream's last
sequence, checks that the message there is the ledger's event at that position (same event
id) and that the stream is not ahead of the log, and publishes from the next position. A relay
killed at any moment therefore resumes with no gap and no duplicate: what JetStream stored is
the checkpoint.

Following: the relay LISTENs for ``ledger_appended``, which every append sends as it commits
(``store.appender``), reads what is new by position (gapless, see ``store.event_store``) and
publishes it; it does not poll. Behind the head it publishes a batch at a time without waiting
for each ack (replies collected on an inbox of the relay's own), reading the next batch while the acks of the last
come back. A lost database or broker connection is retried with a back-off, resuming as on a
start; SIGINT or SIGTERM lets the batch in flight be acknowledged and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
import psycopg
import structlog
from nats.js import JetStreamContext

from .domain.envelope import RecordedEvent
from .domain.errors import BrokerUnavailable, DatabaseUnavailable, RelayRefused, ValidationError
from .domain.jsonl import format_recorded
from .store.event_store import APPENDED_CHANNEL, EventStore

log = structlog.get_logger(__name__)

DEFAULT_JETSTREAM = "LEDGER"
DEFAULT_SUBJECT_PREFIX = "ledger"
DEFAULT_BATCH = 1000
ACK_TIMEOUT = 30.0  # seconds for one batch's acks; then the relay resumes from JetStream's state
WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed Nats-Expected-Last-Sequence
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_subject_prefix(prefix: str) -> str:
    """A prefix of dot-separated tokens of letters, digits, ``_`` and ``-`` (no wildcards)."""
    if not all(_TOKEN.fullmatch(token) for token in prefix.split(".")):
        raise ValidationError(
            "--subject-prefix", f"dot-separated letters, digits, _ and -, got {prefix!r}"
        )
    return prefix


def check_jetstream_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValidationError("--jetstream", f"letters, digits, _ and - only, got {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a catch-up is: ``position`` relayed of the ``head`` seen when it started."""

    position: int
    head: int
    events_per_second: float


class Relay:
    """Publishes the ledger's events to JetStream, message sequence = position, until stopped."""

    def __init__(
        self,
        store: EventStore,
        listen_url: str,
        nats_url: str,
        *,
        jetstream: str = DEFAULT_JETSTREAM,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        batch_size: int = DEFAULT_BATCH,
        on_progress: Callable[[Progress], None] | None = None,
        on_following: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.listen_url = listen_url
        self.nats_url = nats_url
        self.jetstream = check_jetstream_name(jetstream)
        self.subject_prefix = check_subject_prefix(subject_prefix)
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.on_following = on_following
        self.position = 0  # the last position JetStream acknowledged to this relay
        self._stopping = asyncio.Event()
        self._backoff = 0.1  # before a retry; back to this once a retry has resumed

    def subject(self, event: RecordedEvent) -> str:
        return f"{self.subject_prefix}.{event.type}"

    def stop(self) -> None:
        """Stop after the batch in flight is acknowledged (safe from a signal handler)."""
        self._stopping.set()

    async def run(self) -> None:
        """Relay until ``stop``; raises ``RelayRefused`` when the stream is not this log's."""
        nc = await self._connect()
        try:
            js = nc.jetstream()
            acks = _Acks(nc)
            await acks.start()
            try:
                await self._ensure_stream(js)
            except (
                nats.errors.NoRespondersError,
                nats.errors.TimeoutError,
                nats.js.errors.ServiceUnavailableError,
            ) as exc:
                raise BrokerUnavailable(
                    f"NATS at {self.nats_url} does not answer for JetStream (is it started "
                    f"with -js?): {exc}"
                ) from exc
            while not self._stopping.is_set():
                try:
                    await self._relay(js, acks)
                except _StreamMoved as moved:
                    log.info("relay.resuming", reason=str(moved))
                except (
                    DatabaseUnavailable,
                    psycopg.OperationalError,
                    nats.errors.Error,  # timeouts, a reconnecting broker (JetStream's are below)
                    TimeoutError,
                ) as exc:
                    if isinstance(exc, nats.js.errors.APIError) and not isinstance(
                        exc, nats.js.errors.ServiceUnavailableError
                    ):
                        raise RelayRefused(f"JetStream refused the relay: {exc}") from exc
                    first = (str(exc) or type(exc).__name__).splitlines()[0]
                    log.warning("relay.retrying", error=first, retry_in=self._backoff)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self._backoff)
                    self._backoff = min(self._backoff * 2, 5.0)
                finally:
                    acks.forget()
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _connect(self) -> nats.NATS:
        async def quiet(exc: Exception) -> None:  # nats-py prints tracebacks otherwise
            log.warning("relay.broker", error=str(exc) or type(exc).__name__)

        try:
            nc = await nats.connect(
                self.nats_url, connect_timeout=5, max_reconnect_attempts=1, error_cb=quiet
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise BrokerUnavailable(f"cannot reach NATS at {self.nats_url}: {reason}") from exc
        nc.options["max_reconnect_attempts"] = -1  # once connected, ride out broker restarts
        return nc

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream if it is missing; refuse one that does not take our subjects."""
        wanted = f"{self.subject_prefix}.>"
        try:
            info = await js.stream_info(self.jetstream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(name=self.jetstream, subjects=[wanted])
            log.info("relay.created", jetstream=self.jetstream, subjects=wanted)
            return
        subjects = info.config.subjects or []
        if wanted not in subjects:
            raise RelayRefused(
                f"JetStream stream {self.jetstream} takes the subjects {subjects}, not {wanted}: "
                "it is not a ledger relay's stream (choose another --jetstream or --subject-prefix)"
            )

    async def _relay(self, js: JetStreamContext, acks: _Acks) -> None:
        """One connection's worth: listen, resume from JetStream's state, catch up, follow."""
        async with await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True) as conn:
            # LISTEN before reading, so an append committed in between still wakes us.
            await conn.execute(f"LISTEN {APPENDED_CHANNEL}")
            await self._ensure_stream(js)  # a broker that lost its store gets it back from 1
            self.position = await self._resume(js)
            self._backoff = 0.1
            following = False
            while not self._stopping.is_set():
                await self._catch_up(acks)
                if not following:
                    following = True
                    if self.on_following is not None:
                        self.on_following(self.position)
                if not await self._woken(conn):
                    return

    async def _woken(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Until an append is notified (True) or the relay is stopped (False)."""
        if self._stopping.is_set():
            return False
        woken = asyncio.ensure_future(_notified(conn))
        stopped = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({woken, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (woken, stopped):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if woken in done:
            woken.result()  # a dropped connection raises here, and is retried by ``run``
            return True
        return False

    async def _resume(self, js: JetStreamContext) -> int:
        """The stream's last sequence, once it is checked to be this log's up to there."""
        info = await js.stream_info(self.jetstream)
        last = info.state.last_seq
        head = (await asyncio.to_thread(self.store.head)).position
        if last > head:
            raise RelayRefused(
                f"JetStream stream {self.jetstream} ends at sequence {last:,} but the ledger's "
                f"head is position {head:,}: the stream is not this ledger's log (or the ledger "
                "was restored to an earlier state); nothing was published"
            )
        if last == 0:
            return 0
        (event,) = await asyncio.to_thread(self.store.read, last - 1, 1)
        try:
            message = await js.get_msg(self.jetstream, seq=last)
        except nats.js.errors.NotFoundError:  # deleted or aged out: the sequence is what's left
            log.warning("relay.unchecked", jetstream=self.jetstream, sequence=last)
            return last
        found = (message.headers or {}).get(MSG_ID)
        if found != str(event.event_id):
            raise RelayRefused(
                f"JetStream stream {self.jetstream} holds message {found or 'without an id'} at "
                f"sequence {last:,}, but the ledger's event at position {last:,} is "
                f"{event.event_id}: the stream is not this ledger's log; nothing was published"
            )
        return last

    async def _catch_up(self, acks: _Acks) -> None:
        """Publish everything after ``self.position``: while a batch is published the next is
        read, and the acks of the one before come back (two batches in flight at most)."""
        started, first = time.monotonic(), self.position
        head: int | None = None
        in_flight: deque[tuple[list[RecordedEvent], list[Reply]]] = deque()
        batch = await asyncio.to_thread(self.store.read, self.position, self.batch_size)
        reading: asyncio.Future[list[RecordedEvent]] | None = None
        try:
            while batch:
                more = len(batch) == self.batch_size and not self._stopping.is_set()
                if more:
                    after = batch[-1].position
                    reading = asyncio.ensure_future(
                        asyncio.to_thread(self.store.read, after, self.batch_size)
                    )
                in_flight.append((batch, await self._publish(acks, batch)))
                if len(in_flight) > 1:
                    await self._acknowledged(*in_flight.popleft())
                    if self.on_progress is not None and (more or head is not None):
                        if head is None:
                            head = (await asyncio.to_thread(self.store.head)).position
                        self._report(first, started, head)
                batch, reading = (await reading if reading is not None else []), None
            while in_flight:
                await self._acknowledged(*in_flight.popleft())
        finally:
            if reading is not None:
                reading.cancel()
        if head is not None:  # a long catch-up: say where it ended
            self._report(first, started, head)

    def _report(self, first: int, started: float, head: int) -> None:
        if self.on_progress is not None:
            rate = (self.position - first) / max(time.monotonic() - started, 1e-9)
            self.on_progress(Progress(self.position, max(head, self.position), rate))

    async def _publish(self, acks: _Acks, batch: Sequence[RecordedEvent]) -> list[Reply]:
        replies = []
        for event in batch:
            headers = {
                MSG_ID: str(event.event_id),
                EXPECTED_LAST_SEQUENCE: str(event.position - 1),
            }
            inbox, reply = acks.expect(event.position)
            await acks.nc.publish(
                self.subject(event), format_recorded(event), reply=inbox, headers=headers
            )
            replies.append(reply)
        return replies

    async def _acknowledged(self, batch: Sequence[RecordedEvent], replies: list[Reply]) -> None:
        """Wait for a batch's acks; each must put its event at its position."""
        answers = await asyncio.wait_for(asyncio.gather(*replies), ACK_TIMEOUT)
        for event, answer in zip(batch, answers, strict=True):
            error = answer.get("error")
            if error and error.get("err_code") == WRONG_LAST_SEQUENCE:
                raise _StreamMoved(
                    f"JetStream refused position {event.position:,}: the last sequence of "
                    f"{self.jetstream} is not {event.position - 1:,} ({error.get('description')})"
                )
            if error:
                raise RelayRefused(
                    f"JetStream refused position {event.position:,} for stream "
                    f"{self.jetstream}: {error.get('description') or error}"
                )
            # A duplicate (another relay stored this event first) is fine where it belongs.
            if answer.get("seq") != event.position:
                raise RelayRefused(
                    f"JetStream stored event {event.event_id} (position {event.position:,}) "
                    f"at sequence {answer.get('seq')}"
                    f"{' as a duplicate' if answer.get('duplicate') else ''}: "
                    f"stream {self.jetstream} does not follow this ledger's log"
                )
            self.position = event.position


Reply = asyncio.Future[dict[str, Any]]


class _StreamMoved(Exception):
    """The stream's last sequence was not the one the relay expected: someone else wrote to
    it (another relay, a stray publisher) or it was made afresh. The relay resumes from what
    the stream holds, checked against the log like a start: another relay's messages are the
    log's and pass; anything else is refused there."""


async def _notified(conn: psycopg.AsyncConnection[Any]) -> None:
    """One notification. A generator of its own each time, closed when it ends or is
    cancelled: a live ``notifies()`` generator holds the connection's lock, and the
    connection could then never be closed."""
    async with contextlib.aclosing(conn.notifies(stop_after=1)) as notifies:
        async for _ in notifies:
            return


class _Acks:
    """JetStream's answers to the relay's publishes, by position, on an inbox of its own.

    Not nats-py's ``publish_async``: its reply handler *raises* an error answer (a wrong last
    sequence) inside the subscription's callback instead of setting it on the future, which
    then never completes (nats-py 2.16). Here every answer, error or ack, resolves its future.
    """

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.waiting: dict[int, Reply] = {}

    async def start(self) -> None:
        await self.nc.subscribe(f"{self.prefix}.*", cb=self._answered)

    def expect(self, position: int) -> tuple[str, Reply]:
        """The reply subject for the publish of ``position``, and its answer to come."""
        reply: Reply = asyncio.get_running_loop().create_future()
        self.waiting[position] = reply
        return f"{self.prefix}.{position}", reply

    def forget(self) -> None:
        """Drop what is still awaited (after a time-out: the relay resumes from the stream)."""
        for reply in self.waiting.values():
            reply.cancel()
        self.waiting.clear()

    async def _answered(self, msg: Any) -> None:
        reply = self.waiting.pop(int(msg.subject.rsplit(".", 1)[1]), None)
        if reply is None or reply.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":  # no stream takes the subject
            reply.set_result({"error": {"description": "no JetStream stream answered"}})
            return
        try:
            reply.set_result(orjson.loads(msg.data))
        except orjson.JSONDecodeError:
            reply.set_result({"error": {"description": f"unreadable answer {msg.data[:200]!r}"}})


__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_JETSTREAM",
    "DEFAULT_SUBJECT_PREFIX",
    "Progress",
    "Relay",
    "check_jetstream_name",
    "check_subject_prefix",
]
