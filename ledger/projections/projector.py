"""The projector: tails the log by position and keeps the read models, exactly once.

Each batch of events, the Merkle tree grown by them, the signed checkpoint of that tree (when
the ledger has a signing key) and the checkpoint that says the batch was applied are written
in one transaction, so a crash re-applies nothing and skips nothing. Several service processes may
run a projector; a session advisory lock lets exactly one of them work at a time, and the
others return at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ..domain.checkpoint import SigningKey
from ..store import EventStore, checkpoints, tree
from . import statements

PROJECTOR_LOCK_KEY = 0x6C6564676571  # "ledgeq": one projector per database
# Sent with each checkpoint's commit (payload: the new checkpoint), to every session listening:
# readers waiting for the read models to reach a position (``ledger.queries``) wake on it.
PROJECTED_CHANNEL = "ledger_projected"


def _head(cur: Any) -> int:
    # Positions commit in order (see ledger.store.event_store), so every position up to the
    # largest visible one is visible too.
    return cur.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]


@dataclass(frozen=True)
class Status:
    name: str
    checkpoint: int
    head: int

    @property
    def lag(self) -> int:
        return self.head - self.checkpoint


class Projector:
    def __init__(
        self,
        engine: Engine,
        store: EventStore,
        *,
        batch_size: int = 10_000,
        signing_key: SigningKey | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.batch_size = batch_size
        # Signs a checkpoint of the tree after each batch (None: no checkpoints are issued).
        self.signing_key = signing_key

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
                with conn.cursor() as cur:
                    while True:
                        after = statements.checkpoint(cur, lock=True)
                        head = _head(cur)
                        if head <= after:
                            # Nothing to project; but a key new to this ledger (or a tree
                            # built by the migration) may not have signed the tree yet.
                            if self.signing_key is not None and applied == 0:
                                tree.extend(cur, after)
                                checkpoints.issue(cur, self.signing_key, after)
                                conn.commit()
                            conn.rollback()
                            return applied
                        upto = min(head, after + self.batch_size)
                        statements.apply(cur, after, upto)
                        if self.signing_key is not None:
                            checkpoints.issue(cur, self.signing_key, upto)
                        cur.execute("SELECT pg_notify(%s, %s)", (PROJECTED_CHANNEL, str(upto)))
                        conn.commit()
                        applied += upto - after
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
                {"n": statements.NAME},
            ).scalar_one()
        return Status(statements.NAME, checkpoint, self.store.head().position)
