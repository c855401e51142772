"""Answers served by a hot standby, complete at their ``knownAt`` all the same.

A standby replays the primary's WAL a little behind it and can neither take the append lock
that settles the log's head nor hear ``ledger_projected``. So the basis is still taken where
the appends are: ``_fresh.resolve`` on the primary gives the head H with the read models
caught up to it, then the primary's WAL position W is read. Every commit up to the
checkpoint's lies before W, so once the standby has replayed W its snapshot holds the whole
prefix 1..H, projected: the same rows the primary would read, hence the identical answer.

The standby's replay is not something a client can be woken by (a standby sends no
notifications), so it is looked at every few milliseconds, for at most
``STANDBY_WAIT_SECONDS``. A standby further behind than that still answers what lies inside
the prefix it has replayed -- a question pinned by ``atPosition``, or by a ``knownAt`` before
its last event -- identically; a question beyond it moves to the primary
(``Snapshot.answer``; ``moved`` counts how often).

When the primary cannot be reached at all (it died; the failover manager is promoting a
standby), the standby answers from what it has replayed alone: the prefix up to its
projected checkpoint P. No event recorded before ``recorded_at(P)`` can lie beyond P
(positions commit in order, each append dated no earlier than the head under the lock), so
the basis instant is just before that event's ``recorded_at`` -- strictly before, since a
later append may share it. A default ``knownAt`` is then that instant (the answer states its
basis position); a ``knownAt`` after it cannot be answered completely until the primary is
back, and is ``NotYetKnown``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import psycopg
import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from ..domain.errors import NotYetKnown
from ..projections import statements
from ._fresh import EPOCH, Basis, Project, resolve

log = structlog.get_logger("ledger.queries")

# How long an answer waits for a standby to replay what the primary holds before it is read
# on the primary instead (a synchronous standby is normally there already).
STANDBY_WAIT_SECONDS = 0.5
_POLL_SECONDS = 0.002

_RECOVERY = "SELECT pg_is_in_recovery()"
_WAL = "SELECT pg_current_wal_lsn()::text"
_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
_OWN_BASIS = """
SELECT c.position, e.recorded_at
  FROM (SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = %s), 0)
               AS position) AS c
  LEFT JOIN events AS e ON e.position = c.position
"""


class Counters:
    """How answers asked of standbys were served (for ``/metrics`` and the cluster bench)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.standby = 0  # the standby had replayed the primary's basis
        self.behind = 0  # it had not: it answered what its own prefix holds
        self.moved = 0  # questions beyond that prefix, answered on the primary
        self.standby_alone = 0  # the primary could not be reached

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {
                "standby": self.standby,
                "behind": self.behind,
                "moved": self.moved,
                "standby_alone": self.standby_alone,
            }


COUNTERS = Counters()


def in_recovery(conn: Connection) -> bool:
    """Whether ``conn`` is on a standby (asked per snapshot: a standby may be promoted); no
    transaction is left open on it."""
    try:
        return bool(conn.exec_driver_sql(_RECOVERY).scalar())
    finally:
        conn.rollback()


def begin_on_standby(
    primary: Engine, conn: Connection, at_least: int, wait: float, project: Project | None
) -> tuple[Basis, bool]:
    """The basis for a snapshot about to begin on standby connection ``conn`` (no transaction
    open on it once this returns), and whether the primary can be reached: a question beyond
    a ``bounded`` basis then moves to it (``Snapshot.answer``), else it is ``NotYetKnown``."""
    deadline = time.monotonic() + wait
    taken = _primary_basis(primary, at_least, wait, project)
    if taken is None:
        COUNTERS.count("standby_alone")
        return _own_basis(conn, at_least), False
    basis, wal = taken
    standby_deadline = min(deadline, time.monotonic() + STANDBY_WAIT_SECONDS)
    raw: Any = conn.connection.driver_connection
    while True:
        replayed = raw.execute(_REPLAYED, (wal,)).fetchone()[0]
        raw.rollback()
        if replayed:
            COUNTERS.count("standby")
            return basis, True
        if time.monotonic() >= standby_deadline:
            # Behind: what it has replayed still answers questions pinned inside it.
            COUNTERS.count("behind")
            log.info("standby behind the primary", wal=wal)
            return _own_basis(conn, 0), True
        time.sleep(_POLL_SECONDS)


def _primary_basis(
    primary: Engine, at_least: int, wait: float, project: Project | None
) -> tuple[Basis, str] | None:
    """The basis on the primary and its WAL position after it, or None if it is unreachable."""
    try:
        with primary.connect() as pconn:
            try:
                basis = resolve(primary, pconn, at_least, wait, project)
                raw: Any = pconn.connection.driver_connection
                wal = raw.execute(_WAL).fetchone()[0]
                raw.rollback()
            except psycopg.OperationalError:
                pconn.invalidate()  # the server went away: make the pool start afresh
                primary.pool.dispose()
                raise
            return basis, wal
    except (psycopg.OperationalError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        log.warning("primary unreachable; answering from the standby alone", error=_first(exc))
        return None


def _own_basis(conn: Connection, at_least: int) -> Basis:
    """What the standby alone can answer completely: its projected prefix."""
    raw: Any = conn.connection.driver_connection
    position, recorded_at = raw.execute(_OWN_BASIS, (statements.NAME,)).fetchone()
    raw.rollback()
    if position < at_least:
        raise NotYetKnown(
            at_least, position, "replayed by this standby (the primary is unreachable)"
        )
    recorded_at = recorded_at or EPOCH
    instant = recorded_at - dt.timedelta(microseconds=1) if position else EPOCH
    return Basis(position, recorded_at, instant, bounded=True)


def _first(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
