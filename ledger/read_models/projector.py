"""The projector: tails the log by position and keeps the read models, exactly once.

Each batch of events and the checkpoint that says it was applied are written in one
transaction, so a crash re-applies nothing and skips nothing. Several service processes may
run a projector; a session advisory lock lets exactly one of them work at a time, and the
others return at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ..store import EventStore
from . import projection

PROJECTOR_LOCK_KEY = 0x6C6564676571  # "ledgeq": one projector per database


@dataclass(frozen=True)
class Status:
    name: str
    checkpoint: int
    head: int

    @property
    def lag(self) -> int:
        return self.head - self.checkpoint


class Projector:
    def __init__(self, engine: Engine, store: EventStore, *, batch_size: int = 1000) -> None:
        self.engine = engine
        self.store = store
        self.batch_size = batch_size

    def run_once(self) -> int | None:
        """Apply every event after the checkpoint; the number applied, or None if another
        projector holds the lock."""
        pooled = self.engine.raw_connection()
        try:
            conn = pooled.driver_connection
            assert conn is not None
            locked = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (PROJECTOR_LOCK_KEY,)
            ).fetchone()[0]
            conn.commit()
            if not locked:
                return None
            applied = 0
            try:
                while True:
                    row = conn.execute(
                        "SELECT position FROM projection_checkpoints WHERE name = %s FOR UPDATE",
                        (projection.NAME,),
                    ).fetchone()
                    checkpoint = row[0] if row else 0
                    events = self.store.read(after=checkpoint, limit=self.batch_size)
                    if not events:
                        conn.rollback()
                        return applied
                    with conn.cursor() as cur:
                        projection.apply(cur, events)
                        cur.execute(
                            "INSERT INTO projection_checkpoints (name, position) VALUES (%s, %s) "
                            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                            "updated_at = clock_timestamp()",
                            (projection.NAME, events[-1].position),
                        )
                    conn.commit()
                    applied += len(events)
            finally:
                if not conn.closed:
                    conn.rollback()
                    conn.execute("SELECT pg_advisory_unlock(%s)", (PROJECTOR_LOCK_KEY,))
                    conn.commit()
        finally:
            pooled.close()

    def status(self) -> Status:
        with self.engine.connect() as conn:
            checkpoint = conn.exec_driver_sql(
                "SELECT coalesce(max(position), 0) FROM projection_checkpoints WHERE name = %(n)s",
                {"n": projection.NAME},
            ).scalar_one()
        return Status(projection.NAME, checkpoint, self.store.head().position)
