"""A canonical hash of the read models: equal digests mean equal tables, row for row.

Why: a rebuild must produce exactly what the projector maintained event by event, and an
operator should be able to check that two databases project the same history. Rows are
hashed as PostgreSQL prints them, in sorted order; the checkpoint's ``updated_at`` (a wall
clock, not a fact) is left out.
"""

from __future__ import annotations

import hashlib

from psycopg import sql
from sqlalchemy import Engine

from .statements import TABLES


def digest(engine: Engine, schema: str = "public") -> dict[str, str]:
    """SHA-256 of each read-model table of ``schema`` (hex), by table name."""
    out: dict[str, str] = {}
    pooled = engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        for table in TABLES:
            row = (
                sql.SQL("(t.name, t.position)::text")
                if table == "projection_checkpoints"
                else sql.SQL("t::text")
            )
            query = sql.SQL('SELECT {row} FROM {table} t ORDER BY {row} COLLATE "C"').format(
                row=row, table=sql.Identifier(schema, table)
            )
            h = hashlib.sha256()
            with conn.cursor(name=f"digest_{table}") as cur:
                cur.execute(query)
                for (text,) in cur:
                    h.update(text.encode())
                    h.update(b"\n")
            out[table] = h.hexdigest()
        conn.rollback()
    finally:
        pooled.close()
    return out
