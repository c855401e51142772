"""Rebuild the read models from position 0 into fresh tables, then swap them in atomically.

Why fresh tables: queries keep reading the live tables, whole and consistent, for as long as
the rebuild takes; the live projector keeps them current meanwhile. The fresh tables are
made ``LIKE`` the live ones (columns, defaults, checks) and filled bare; their keys, foreign
keys and indexes are then built once, by copying the live tables' definitions -- names
included -- which is much faster than maintaining them row by row, and means a migration
that changes a read model changes what a rebuild makes.

The swap takes the projector's lock (waiting for a batch in progress), projects what was
recorded since the bulk pass, and moves the live tables out and the fresh ones in within one
transaction: a query sees either the old tables or the new ones, never a mixture, and waits
at most for that transaction.

Runs as the schema owner (it creates and drops tables), like the migrations.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from . import statements
from .projector import PROJECTED_CHANNEL, PROJECTOR_LOCK_KEY

FRESH_SCHEMA = "ledger_rebuild"
RETIRED_SCHEMA = "ledger_retired"
REBUILD_LOCK_KEY = 0x6C6564676570  # "ledgep": one rebuild per database
DEFAULT_CHUNK = 100_000
SWAP_LOCK_TIMEOUT_MS = 200
SWAP_ATTEMPTS = 60

Progress = Callable[[int, int], None]  # (events projected, events to project)


class RebuildFailed(RuntimeError):
    """The rebuild stopped; the live read models are as they were."""


class RebuildInProgress(RebuildFailed):
    pass


@dataclass(frozen=True)
class RebuildResult:
    events: int  # positions projected (the head at the swap)
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _ident(*names: str) -> sql.Composable:
    return sql.Identifier(*names)


def _head(cur: psycopg.Cursor) -> int:
    (head,) = cur.execute("SELECT coalesce(max(position), 0) FROM public.events").fetchone() or (0,)
    return head


@dataclass(frozen=True)
class _Definitions:
    """The live tables' keys, foreign keys and indexes, to give the fresh tables once filled."""

    constraints: list[tuple[str, str, str]]  # (table, name, definition): keys first
    indexes: list[str]  # CREATE INDEX statements on the fresh tables


def _definitions(cur: psycopg.Cursor) -> _Definitions:
    tables = [t for t in statements.TABLES if t not in statements.KEYED]
    constraints = cur.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.contype IN ('p', 'u', 'f') AND c.conrelid::regclass::text = ANY(%s)
         ORDER BY c.contype = 'f', c.conname
        """,
        (tables,),
    ).fetchall()
    indexes = [
        re.sub(r" ON public\.(\w+) ", rf" ON {FRESH_SCHEMA}.\1 ", definition, count=1)
        for (definition,) in cur.execute(
            """
            SELECT i.indexdef FROM pg_indexes i
             WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
               AND NOT EXISTS (SELECT FROM pg_constraint c
                                WHERE c.conindid = format('%%I.%%I', i.schemaname,
                                                          i.indexname)::regclass)
             ORDER BY i.indexname
            """,
            (tables,),
        ).fetchall()
    ]
    return _Definitions(constraints=constraints, indexes=indexes)


def _create_fresh_tables(cur: psycopg.Cursor, app_role: str | None) -> _Definitions:
    """Bare tables (columns, defaults, checks): rows go in faster with no index to maintain.
    The tables the projection upserts into keep their keys, which ON CONFLICT needs."""
    definitions = _definitions(cur)
    cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_ident(FRESH_SCHEMA)))
    cur.execute(sql.SQL("CREATE SCHEMA {}").format(_ident(FRESH_SCHEMA)))
    for table in statements.TABLES:
        like = (
            "INCLUDING ALL"
            if table in statements.KEYED
            else ("INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS")
        )
        cur.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} " + like + ")").format(
                _ident(FRESH_SCHEMA, table), _ident("public", table)
            )
        )
        if app_role:
            cur.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                    _ident(FRESH_SCHEMA, table), _ident(app_role)
                )
            )
    return definitions


def _index_fresh_tables(cur: psycopg.Cursor, definitions: _Definitions) -> None:
    """Keys, foreign keys and indexes, built once over the filled tables, with the live ones'
    names (they live in another schema until the swap)."""
    # Definitions name their referenced tables unqualified: the fresh schema comes first.
    cur.execute(sql.SQL("SET LOCAL search_path = {}, public").format(_ident(FRESH_SCHEMA)))
    for table, name, definition in definitions.constraints:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                _ident(FRESH_SCHEMA, table), _ident(name), sql.SQL(definition)
            )
        )
    for statement in definitions.indexes:
        cur.execute(sql.SQL(statement))
    cur.execute(
        sql.SQL("ANALYZE {}").format(
            sql.SQL(", ").join(_ident(FRESH_SCHEMA, t) for t in statements.TABLES)
        )
    )


def _swap(cur: psycopg.Cursor) -> None:
    cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_ident(RETIRED_SCHEMA)))
    cur.execute(sql.SQL("CREATE SCHEMA {}").format(_ident(RETIRED_SCHEMA)))
    for table in statements.TABLES:
        cur.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                _ident("public", table), _ident(RETIRED_SCHEMA)
            )
        )
        cur.execute(sql.SQL("ALTER TABLE {} SET SCHEMA public").format(_ident(FRESH_SCHEMA, table)))
    cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(_ident(RETIRED_SCHEMA)))
    cur.execute(sql.SQL("DROP SCHEMA {}").format(_ident(FRESH_SCHEMA)))


def rebuild(
    owner_engine: Engine,
    *,
    app_role: str | None,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> RebuildResult:
    """Project every event into fresh tables and swap them in; see the module docstring."""
    started = time.perf_counter()
    pooled = owner_engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        conn.rollback()
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (REBUILD_LOCK_KEY,)).fetchone()[0]:
            conn.rollback()
            raise RebuildInProgress("another rebuild of the read models is running")
        conn.commit()
        try:
            return _rebuild(conn, app_role, chunk, progress, started)
        finally:
            if not conn.closed:
                conn.rollback()
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_ident(FRESH_SCHEMA))
                )
                conn.execute("SELECT pg_advisory_unlock(%s)", (REBUILD_LOCK_KEY,))
                conn.commit()
    finally:
        pooled.close()


def _rebuild(
    conn: psycopg.Connection,
    app_role: str | None,
    chunk: int,
    progress: Progress | None,
    started: float,
) -> RebuildResult:
    with conn.cursor() as cur:
        definitions = _create_fresh_tables(cur, app_role)
        conn.commit()

        # The bulk pass, a transaction per chunk, while the live tables keep answering.
        search_path = sql.SQL("SET LOCAL search_path = {}, public").format(_ident(FRESH_SCHEMA))
        after, head = 0, _head(cur)
        while after < head:
            upto = min(head, after + chunk)
            cur.execute(search_path)
            statements.apply(cur, after, upto)
            conn.commit()
            after = upto
            if progress:
                progress(after, head)
            if after == head:
                head = _head(cur)  # appended meanwhile: project those too before the swap

        _index_fresh_tables(cur, definitions)
        conn.commit()
        head = _swap_in(conn, cur, after, search_path)
        if progress:
            progress(head, head)
    return RebuildResult(events=head, seconds=time.perf_counter() - started)


def _swap_in(
    conn: psycopg.Connection, cur: psycopg.Cursor, after: int, search_path: sql.Composed
) -> int:
    """What was appended since the bulk pass, then the tables, in one transaction.

    Queries lock the read-model tables in the same order as the swap, so neither can hold
    what the other waits for. A query that runs long (or a client that locks in another
    order) is not waited for long either: the swap waits briefly for each lock and, when it
    cannot get one, steps back (releasing everything) and tries again.
    """
    delay = 0.01
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (PROJECTOR_LOCK_KEY,))
            cur.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_MS}ms'")
            head = _head(cur)
            if head > after:
                cur.execute(search_path)
                statements.apply(cur, after, head)
            cur.execute("SET LOCAL search_path = public")
            # In the order queries take them (ledger.queries._snapshot).
            cur.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    sql.SQL(", ").join(_ident("public", t) for t in statements.TABLES)
                )
            )
            _swap(cur)
            # Readers waiting for a position wake (``ledger.queries``), as after a projection.
            cur.execute("SELECT pg_notify(%s, %s)", (PROJECTED_CHANNEL, str(head)))
            conn.commit()
            return head
        except psycopg.errors.LockNotAvailable:
            conn.rollback()
            if attempt == SWAP_ATTEMPTS:
                raise RebuildFailed(
                    f"could not swap the rebuilt read models in: queries held their tables "
                    f"through {SWAP_ATTEMPTS} attempts; the live tables are unchanged"
                ) from None
            time.sleep(delay)  # let the queries in the way finish
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
