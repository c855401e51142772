"""The basis of an answer: the complete prefix of the log it reads, and waiting for it.

Why it is sound. Appends take the append lock (``APPEND_LOCK_KEY``) exclusively, date their
events by the database clock under it (never earlier than the head's ``recorded_at``), and
commit before they let go; so positions commit in order and ``recorded_at`` never decreases
along them. ``resolve`` takes that lock in *shared* mode in a transaction of a few
microseconds: every append in flight has committed by then, and every later append is dated
after this transaction. The head H it reads then is such that no event with a ``recorded_at``
up to the clock it reads (the basis instant) will ever appear after H: "recorded by K" is
"position <= pos(K)", and the answer at any K up to the basis instant can never change.

It then waits, bounded (``READ_WAIT_SECONDS``), for the read models' checkpoint to reach H:
given a way to project (``project``: the composition root's ``Projector.run_once``, which
one process at a time may run), it projects the missing events itself when no projector is
at work; otherwise it waits for the projector's ``ledger_projected`` notification (sent with
each checkpoint's commit), heard by one listening connection per process and engine
(``_Watch``), not by polling. A read that cannot
be completed in time fails with ``NotYetKnown``: never an answer from a partial view.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from sqlalchemy import Connection, Engine

from ..domain.errors import NotYetKnown
from ..projections import statements
from ..projections.projector import PROJECTED_CHANNEL
from ..store.engine import listen_url
from ..store.event_store import APPEND_LOCK_KEY

log = structlog.get_logger("ledger.queries")

# How long a read waits for the log or the read models to reach what it needs.
READ_WAIT_SECONDS = 5.0
# Projects what is missing; None if another projector holds the lock (``Projector.run_once``).
Project = Callable[[], int | None]
EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Basis:
    """A complete prefix of the log: every position up to ``position`` is committed and
    projected, and no event recorded by ``instant`` lies beyond it."""

    position: int
    recorded_at: dt.datetime  # of the event at ``position`` (EPOCH for an empty log)
    instant: dt.datetime  # the database clock once the appends in flight had committed
    # True: complete only up to ``instant`` (a standby answering alone: ``_standby``), so a
    # later ``knownAt`` cannot be answered yet.
    bounded: bool = False


_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, true)"
_BARRIER = "SELECT pg_advisory_xact_lock_shared(%s)"
# A statement of its own after the lock is held, so its snapshot sees what committed before.
_HEAD = """
SELECT h.position, h.recorded_at, clock_timestamp(),
       (SELECT position FROM projection_checkpoints WHERE name = %s)
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
        SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1
       ) AS h ON true
"""
_CHECKPOINT = "SELECT position FROM projection_checkpoints WHERE name = %s"
_RECORDED_BY = (
    "SELECT position FROM events WHERE recorded_at <= %s "
    "ORDER BY recorded_at DESC, position DESC LIMIT 1"
)


def _barrier(raw: Any, wait: float) -> tuple[int, dt.datetime, dt.datetime, int]:
    """(head, its recorded_at, the clock, the checkpoint) once the appends in flight have
    committed: one round trip, one short READ COMMITTED transaction. An append holding the
    lock longer than ``wait`` seconds (a huge batch) makes it ``NotYetKnown``."""
    try:
        with raw.pipeline():
            raw.execute(_LOCK_TIMEOUT, (f"{max(1, int(wait * 1000))}ms",))
            raw.execute(_BARRIER, (APPEND_LOCK_KEY,))
            cur = raw.execute(_HEAD, (statements.NAME,))
            raw.commit()
    except psycopg.errors.LockNotAvailable:
        raw.rollback()
        raise NotYetKnown(0, 0, "settled: an append in flight held the append lock") from None
    head, head_at, instant, checkpoint = cur.fetchone()
    return head or 0, head_at or EPOCH, instant, checkpoint or 0


def _checkpoint(raw: Any) -> int:
    row = raw.execute(_CHECKPOINT, (statements.NAME,)).fetchone()
    raw.commit()
    return row[0] if row else 0


def resolve(
    engine: Engine, conn: Connection, at_least: int, wait: float, project: Project | None = None
) -> Basis:
    """The basis of a snapshot about to begin on ``conn`` (which must have no transaction
    open): the head once in-flight appends have committed, at least ``at_least``, with the
    read models caught up to it; waits at most ``wait`` seconds, else ``NotYetKnown``."""
    deadline = time.monotonic() + wait
    raw = conn.connection.driver_connection
    while True:
        head, head_at, instant, checkpoint = _barrier(raw, max(deadline - time.monotonic(), 0))
        if head >= at_least:
            break
        # A position demanded that the log does not hold yet: wait for it to be projected
        # (which implies recorded), then take the barrier again.
        reached = catch_up(engine, raw, at_least, deadline, project)
        if reached < at_least:
            raise NotYetKnown(at_least, max(head, reached), "in the ledger")
    if checkpoint < head:
        reached = catch_up(engine, raw, head, deadline, project)
        if reached < head:
            raise NotYetKnown(head, reached, "projected into the read models")
    return Basis(head, head_at, instant)


def catch_up(
    engine: Engine, raw: Any, position: int, deadline: float, project: Project | None = None
) -> int:
    """Wait until the checkpoint reaches ``position`` or the deadline passes; the checkpoint
    reached. With ``project``, projects itself when no projector holds the lock."""
    watch = _watch(engine)
    while True:
        token = watch.token()  # before the check: a notification after it is not missed
        reached = _checkpoint(raw)
        if reached >= position:
            return reached
        if project is not None:
            try:
                if project():
                    continue  # projected some events: look again
                # None: another projector is at work; 0: nothing to project (the position is
                # not in the log yet). Either way, wait for the next projection.
            except Exception as exc:  # say, a replica that cannot write: wait instead
                log.warning("cannot project for a read", error=str(exc).splitlines()[0])
                project = None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return reached
        watch.wait(token, min(remaining, 0.5))


def recorded_by(conn: Connection, known_at: dt.datetime) -> int:
    """pos(K): the last position recorded at or before ``known_at`` (0 if none)."""
    row = conn.exec_driver_sql(_RECORDED_BY, (known_at,)).first()
    return row[0] if row else 0


class _Watch:
    """One connection listening on ``ledger_projected`` for a process and an engine, while
    some read waits (it ends after a few idle seconds); readers wait on its condition."""

    IDLE_SECONDS = 2.0

    def __init__(self, url: str) -> None:
        self.url = url
        self._cond = threading.Condition()
        self._heard = 0  # notifications heard so far
        self._waiters = 0
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def token(self) -> int:
        with self._cond:
            return self._heard

    def wait(self, token: int, timeout: float) -> None:
        """Until a notification after ``token`` (or ``timeout`` seconds)."""
        with self._cond:
            if self._thread is None:
                self._listening.clear()
                self._thread = threading.Thread(
                    target=self._run, name="ledger-read-wait", daemon=True
                )
                self._thread.start()
            self._waiters += 1
        try:
            if not self._listening.is_set():
                # Just started: what was sent before it listened is not heard, so the caller
                # should look again as soon as it listens.
                self._listening.wait(timeout)
                return
            with self._cond:
                self._cond.wait_for(lambda: self._heard > token, timeout)
        finally:
            with self._cond:
                self._waiters -= 1

    def _run(self) -> None:
        idle_since: float | None = None
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"LISTEN {PROJECTED_CHANNEL}")
                self._listening.set()
                while True:
                    heard = sum(1 for _ in conn.notifies(timeout=0.5, stop_after=1))
                    with self._cond:
                        if heard:
                            self._heard += heard
                            self._cond.notify_all()
                        if self._waiters:
                            idle_since = None
                        elif idle_since is None:
                            idle_since = time.monotonic()
                        elif time.monotonic() - idle_since > self.IDLE_SECONDS:
                            self._thread = None
                            return
        except Exception as exc:
            log.warning("read wait stopped listening", error=str(exc).splitlines()[0])
        finally:
            self._listening.clear()
            with self._cond:
                self._thread = None
                self._heard += 1  # wake the waiters: they look again
                self._cond.notify_all()


_WATCHES: weakref.WeakKeyDictionary[Engine, _Watch] = weakref.WeakKeyDictionary()
_WATCHES_LOCK = threading.Lock()


def _watch(engine: Engine) -> _Watch:
    with _WATCHES_LOCK:
        watch = _WATCHES.get(engine)
        if watch is None:
            watch = _WATCHES[engine] = _Watch(listen_url(engine))
        return watch
