"""Snapshot plumbing shared by every question: which rows are visible at (as_of, known_at),
and the read-only transaction an answer reads in.

A row is visible at (T, K) when it is effective by T, recorded by K and not retracted by K;
"the latest" is the last visible row in ``(effective_at, position)`` order, which the
``*_latest`` indexes serve.

Every question takes a ``Source``: an ``Engine`` (each answer then reads in a transaction of
its own) or a ``Snapshot`` (every answer asked of it reads in the same one). The API hands
each request one ``Snapshot``, so a nested field never sees a newer projection than its root.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine

from ..domain.errors import ValidationError
from ..projections.statements import TABLES

_VISIBLE = (
    "{t}.effective_at <= %(as_of)s AND {t}.recorded_at <= %(known_at)s "
    "AND ({t}.retracted_at IS NULL OR {t}.retracted_at > %(known_at)s)"
)


def visible(alias: str) -> str:
    """The SQL condition that a row of table alias ``alias`` is visible at (as_of, known_at)."""
    return _VISIBLE.format(t=alias)


# Every answer share-locks the read-model tables first, in the order a rebuild's swap takes
# them, so a query and a swap can never each hold a table the other waits for.
LOCK_READ_MODELS = "LOCK TABLE {} IN ACCESS SHARE MODE".format(", ".join(TABLES))


T = TypeVar("T")


def _begin(engine: Engine) -> Connection:
    """A read-only REPEATABLE READ transaction, its read-model tables share-locked. Its
    snapshot is taken by its first SELECT (the LOCK takes none)."""
    conn = engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    )
    try:
        conn.exec_driver_sql(LOCK_READ_MODELS)
    except BaseException:
        conn.close()
        raise
    return conn


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

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._memo: dict[Hashable, Any] = {}
        self._closed = False

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
            if self._conn is None:
                self._conn = _begin(self.engine)
            try:
                yield self._conn
            except BaseException:
                if _broken(self._conn):
                    self._discard()
                raise

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

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        self._memo.clear()
        if conn is not None:
            conn.close()


def _broken(conn: Connection | None) -> bool:
    """Whether the transaction can run no more statements (one failed, or the link died)."""
    if conn is None or conn.closed or conn.invalidated:
        return True
    raw = conn.connection.dbapi_connection
    return raw is None or raw.info.transaction_status != TransactionStatus.INTRANS


Source = Engine | Snapshot


@contextmanager
def reading(source: Source) -> Iterator[Connection]:
    """A read-only transaction with one snapshot, so every statement of an answer sees the
    read models at the same instant (the projector may commit in between): the shared one of
    a ``Snapshot``, or one of its own for an ``Engine``."""
    if isinstance(source, Snapshot):
        with source.connection() as conn:
            yield conn
        return
    with _begin(source) as conn:
        yield conn


def params(as_of: dt.datetime, known_at: dt.datetime) -> dict[str, Any]:
    """The bind parameters of ``visible``, refusing a naive time."""
    for name, value in (("as_of", as_of), ("known_at", known_at)):
        if value.tzinfo is None:
            raise ValidationError(name, "must be timezone-aware")
    return {"as_of": as_of, "known_at": known_at}
