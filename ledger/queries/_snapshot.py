"""Snapshot plumbing shared by every question: which rows are visible at (as_of, known_at),
and the read-only transaction an answer reads in.

A row is visible at (T, K) when it is effective by T, recorded by K and not retracted by K;
"the latest" is the last visible row in ``(effective_at, position)`` order, which the
``*_latest`` indexes serve.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with one snapshot, so every statement of an answer sees the
    read models at the same instant (the projector may commit in between)."""
    with engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    ) as conn:
        conn.exec_driver_sql(LOCK_READ_MODELS)
        yield conn


def params(as_of: dt.datetime, known_at: dt.datetime) -> dict[str, Any]:
    """The bind parameters of ``visible``, refusing a naive time."""
    for name, value in (("as_of", as_of), ("known_at", known_at)):
        if value.tzinfo is None:
            raise ValidationError(name, "must be timezone-aware")
    return {"as_of": as_of, "known_at": known_at}
