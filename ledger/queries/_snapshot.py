"""Snapshot plumbing shared by every question: which rows are visible at (as_of, known_at),
and the read-only transaction an answer reads in.

A row is visible at (T, K) when it is effective by T, recorded by K and not retracted by K;
"the latest" is the last visible row in ``(effective_at, position)`` order, which the
``*_latest`` indexes serve.

Every question takes a ``Source``: an ``Engine`` (each answer then reads in a transaction of
its own) or a ``Snapshot`` (every answer asked of it reads in the same one). The API hands
each request one ``Snapshot``, so a nested field never sees a newer projection than its root.

Complete answers (spec section 2, "Consistency"). A snapshot first resolves its **basis**: it
takes the append lock in shared mode for an instant (so every append in flight, whose
``recorded_at`` was taken under that lock, has committed; every later one is dated after this
instant), reads the log's head H and the database's clock, and waits -- bounded -- until the
projector's checkpoint has reached H (``_fresh``). Only then does it begin its REPEATABLE READ
transaction. Every answer of it is then exactly the prefix 1..P of the log with
P = min(H, ``atPosition``, the last position recorded by ``knownAt``): rows are visible by
their ``position`` and ``retracted_position``, so the projector going further meanwhile
changes nothing. A ``knownAt`` not given is the basis instant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from ..domain.errors import NotYetKnown, ValidationError
from ..projections.statements import TABLES
from ..store.driver_errors import translated
from ._fresh import READ_WAIT_SECONDS, Basis, Project, recorded_by, resolve
from ._standby import COUNTERS as _STANDBY
from ._standby import begin_on_standby, in_recovery

# Visible at (T, K, P): effective by T, recorded by K at a position <= P, and not retracted by
# an event both recorded by K and at a position <= P (the two retraction stamps go together).
_VISIBLE = (
    "{t}.effective_at <= %(as_of)s AND {t}.recorded_at <= %(known_at)s "
    "AND {t}.position <= %(position)s "
    "AND ({t}.retracted_at IS NULL OR {t}.retracted_at > %(known_at)s "
    "OR {t}.retracted_position > %(position)s)"
)
MAX_POSITION = 2**63 - 1  # no bound on the position (bigint)
# How long a connection of the read URL that reached the primary (no standby was up) is kept.
REJOIN_SECONDS = 5.0


def visible(alias: str) -> str:
    """The SQL condition that a row of table alias ``alias`` is visible at (as_of, known_at,
    position)."""
    return _VISIBLE.format(t=alias)


# Every answer share-locks the read-model tables first, in the order a rebuild's swap takes
# them, so a query and a swap can never each hold a table the other waits for.
LOCK_READ_MODELS = "LOCK TABLE {} IN ACCESS SHARE MODE".format(", ".join(TABLES))


T = TypeVar("T")


def _begin(
    engine: Engine,
    at_least: int,
    wait: float,
    project: Project | None,
    complete: bool = True,
    primary: Engine | None = None,
) -> tuple[Connection, Basis | None, bool]:
    """The basis (``_fresh.resolve``: in-flight appends waited for, the read models at the
    head), then a read-only REPEATABLE READ transaction, its read-model tables share-locked.
    Its snapshot is taken by its first SELECT (the LOCK takes none), after the checkpoint has
    reached the basis. With ``primary`` (``engine`` may be a standby), a connection that is
    on a standby takes its basis from the primary (``_standby``); the flag says whether a
    question beyond a bounded basis may move to the primary."""
    conn = engine.connect()
    may_move = standby = False
    try:
        basis = None
        if complete and primary is not None and (standby := in_recovery(conn)):
            basis, may_move = begin_on_standby(primary, conn, at_least, wait, project)
        elif complete:
            if primary is not None:
                # The read URL found no standby (it was away): the connection is given up
                # once a few seconds old, so that answers go back to a standby that returns.
                conn.connection.info.setdefault("not_a_standby_since", time.monotonic())
            basis = resolve(engine, conn, at_least, wait, project)
        # A standby is read-only already; marking its transactions so would also make the
        # pool mark them read-write when the connection is given back, which it refuses.
        readonly: dict[str, Any] = {} if standby else {"postgresql_readonly": True}
        conn = conn.execution_options(isolation_level="REPEATABLE READ", **readonly)
        conn.exec_driver_sql(LOCK_READ_MODELS)
    except BaseException:
        conn.close()
        raise
    return conn, basis, may_move


class _Beyond(Exception):
    """A question asks more than a lagging standby's prefix holds: ask it on the primary."""


class Snapshot:
    """One read-only transaction that several answers share: every statement of every answer
    asked of it sees the read models at the same instant, however many commits the projector
    makes meanwhile.

    The connection is taken from the engine's pool at the first question and held until
    ``close``; questions asked from several threads run one at a time (a lock). Whatever an
    answer remembers (``remember``: the whole graph at one point) is kept for the snapshot's
    life, since no answer of it can change. A statement that fails aborts the transaction:
    the snapshot then starts afresh at its next question (the failed one was answered with an
    error anyway); any other error leaves it as it was. Closing is final: a question asked
    later is refused.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        at_least: int = 0,
        wait: float = READ_WAIT_SECONDS,
        project: Project | None = None,
        complete: bool = True,
        primary: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.primary = primary  # where the appends are, when ``engine`` may be a standby
        self._may_move = False  # a question beyond a bounded basis may move to ``primary``
        self._moved = False  # it did: the snapshot now reads on the primary
        self.complete = complete  # False: read whatever is projected, no basis (``span``)
        self.wait = wait
        self.project = project  # how to catch the read models up, if it may (``_fresh``)
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._basis: Basis | None = None
        self._at_least = at_least
        self._memo: dict[Hashable, Any] = {}
        self._recorded_by: dict[dt.datetime, int] = {}
        self._closed = False
        self.reflected: int | None = None  # the largest basis position of an answer so far

    @property
    def basis(self) -> Basis | None:
        """What the snapshot reads: the log's prefix 1..``basis.position`` (None until its
        first question)."""
        return self._basis

    def require(self, at_least: int) -> None:
        """Let the snapshot's answers reflect at least the prefix 1..``at_least``: a snapshot
        already open on a shorter prefix starts afresh at its next question (rare: a position
        demanded is normally already in the log when the request arrives)."""
        with self._lock:
            self._at_least = max(self._at_least, at_least)

    @property
    def opened(self) -> bool:
        """Whether a question has taken a connection (and not given it back)."""
        return self._conn is not None

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The snapshot's connection, for this thread alone until the block ends."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this snapshot is closed")
            if self._basis is not None and self._basis.position < self._at_least:
                self._discard()
            if self._conn is None:
                on_primary = self._moved and self.primary is not None
                self._conn, self._basis, self._may_move = _begin(
                    self.primary if on_primary else self.engine,  # type: ignore[arg-type]
                    self._at_least,
                    self.wait,
                    self.project,
                    self.complete,
                    None if on_primary else self.primary,
                )
            try:
                yield self._conn
            except BaseException:
                if _broken(self._conn):
                    self._discard()
                raise

    def answer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(self, *args, **kwargs)`` (a question of ``ledger.queries``); asked again on the
        primary if it asks more than a lagging standby holds. Answers given before the move
        stay right: each is a function of its own prefix, which the standby held."""
        with translated():  # the driver's errors leave the core as its own types
            try:
                return fn(self, *args, **kwargs)
            except _Beyond:
                pass
            except (psycopg.errors.SerializationFailure, sa_exc.OperationalError) as exc:
                # A standby cancels a query that its replay conflicts with (a rebuild's table
                # swap, a vacuum): not a wrong answer, a question to ask again on the primary.
                if not (self.primary is not None and _recovery_conflict(exc)):
                    raise
            with self._lock:
                self._discard()
                self._moved = True
            _STANDBY.count("moved")
            return fn(self, *args, **kwargs)

    def remember(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, once per ``key`` for the snapshot's life (call it inside
        ``connection``, so ``make`` reads this snapshot)."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = make()
            return self._memo[key]

    def close(self) -> None:
        """End the transaction and give the connection back (waits for a running question)."""
        with self._lock:
            self._closed = True
            self._discard()

    def bound(self, conn: Connection, at: dict[str, Any]) -> dict[str, Any]:
        """``at`` (``params``) resolved against the basis: its ``known_at`` (the basis instant
        if none was given) and ``position``, the last one the answer reflects."""
        basis = self._basis
        assert basis is not None, "bound inside connection()"
        if basis.bounded:
            self._within(basis, at)
        known_at = at["known_at"] or basis.instant
        position = basis.position
        if at["position"] is not None:
            position = min(position, at["position"])
        if known_at < basis.recorded_at:  # some of the prefix was recorded after known_at
            if known_at not in self._recorded_by:
                self._recorded_by[known_at] = recorded_by(conn, known_at)
            position = min(position, self._recorded_by[known_at])
        at_least = at["at_least"]
        if at_least is not None and position < at_least:
            if at["position"] is not None and at["position"] < at_least:
                raise ValidationError("at_position", f"is before atLeastPosition {at_least}")
            raise ValidationError(
                "at_least_position",
                f"position {at_least} was recorded after knownAt {known_at.isoformat()}",
            )
        self.reflected = position if self.reflected is None else max(self.reflected, position)
        return at | {"known_at": known_at, "position": position}

    def _within(self, basis: Basis, at: dict[str, Any]) -> None:
        """Refuse a question that a bounded basis (a standby's own prefix) cannot answer
        completely: move it to the primary if it can be reached, else ``NotYetKnown``."""
        known_at, position, at_least = at["known_at"], at["position"], at["at_least"]
        beyond = (
            (known_at is None and self._may_move)  # "now" is the primary's
            or (known_at is not None and known_at > basis.instant)
            or (position is not None and position > basis.position)
            or (at_least is not None and at_least > basis.position)
        )
        if beyond and self._may_move:
            raise _Beyond
        if beyond:
            raise NotYetKnown(
                max(position or 0, at_least or 0),
                basis.position,
                "complete on this standby while the primary is unreachable (it knows the "
                f"log up to {basis.instant.isoformat()})",
            )

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        self._basis = None
        self._memo.clear()
        if conn is not None:
            since = (
                conn.connection.info.get("not_a_standby_since") if not conn.invalidated else None
            )
            if since is not None and time.monotonic() - since > REJOIN_SECONDS:
                conn.invalidate()
            try:
                conn.close()
            except (psycopg.Error, sa_exc.DBAPIError):
                # The server went away after the answers were given (a failover): a read-only
                # transaction has nothing to roll back, so the request's answers stand.
                with contextlib.suppress(Exception):
                    conn.invalidate()


def _recovery_conflict(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or exc
    return isinstance(
        orig, psycopg.errors.SerializationFailure | psycopg.errors.QueryCanceled
    ) and ("conflict with recovery" in str(orig))


def _broken(conn: Connection | None) -> bool:
    """Whether the transaction can run no more statements (one failed, or the link died)."""
    if conn is None or conn.closed or conn.invalidated:
        return True
    raw = conn.connection.dbapi_connection
    return raw is None or raw.info.transaction_status != TransactionStatus.INTRANS


Source = Engine | Snapshot


@contextmanager
def reading(source: Source, at: dict[str, Any] | None = None) -> Iterator[Connection]:
    """A read-only transaction with one snapshot on a complete prefix of the log, so every
    statement of an answer sees the read models at the same instant (the projector may commit
    in between): the shared one of a ``Snapshot``, or one of its own for an ``Engine``.

    ``at`` (from ``params``) is resolved in place against the snapshot's basis (``bound``):
    read its ``known_at`` and ``position`` inside the block."""
    if isinstance(source, Snapshot):
        snapshot = source
        if at is not None and at["at_least"] is not None:
            snapshot.require(at["at_least"])
        with snapshot.connection() as conn:
            if at is not None:
                at.update(snapshot.bound(conn, at))
            yield conn
        return
    # A question with no point of the time axes (``span``) reads what is projected, as is.
    snapshot = Snapshot(source, at_least=(at or {}).get("at_least") or 0, complete=at is not None)
    try:
        with snapshot.connection() as conn:
            if at is not None:
                at.update(snapshot.bound(conn, at))
            yield conn
    finally:
        snapshot.close()


def params(
    as_of: dt.datetime,
    known_at: dt.datetime | None,
    at_position: int | None = None,
    at_least: int | None = None,
) -> dict[str, Any]:
    """The bind parameters of ``visible``, refusing a naive time: ``known_at`` None is the
    basis instant (now), ``at_position`` bounds the prefix of the log read, ``at_least``
    demands that it reach that position (``reading`` resolves them)."""
    for name, value in (("as_of", as_of), ("known_at", known_at)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(name, "must be timezone-aware")
    for name, number in (("at_position", at_position), ("at_least_position", at_least)):
        if number is not None and not 0 <= number <= MAX_POSITION:
            raise ValidationError(name, "must be 0 or more")
    return {"as_of": as_of, "known_at": known_at, "position": at_position, "at_least": at_least}
