"""A read's basis (ledger.queries._fresh): appends in flight are waited for, bounded."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from ledger import queries
from ledger.domain.errors import NotYetKnown
from ledger.store.event_store import APPEND_LOCK_KEY
from tests.conftest import TestDatabase


def _waiting_for_the_append_lock(database: TestDatabase) -> bool:
    with database.owner_engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND mode = 'ShareLock'"
                )
            ).scalar()
        )


def test_a_read_waits_for_an_append_in_flight_then_reads(database: TestDatabase) -> None:
    opened: list[queries.Basis | None] = []
    with database.app_engine.connect() as appending:
        # An append in flight: the append lock held, its commit still to come.
        appending.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})

        def read() -> None:
            snapshot = queries.Snapshot(database.app_engine)
            with snapshot.connection():
                opened.append(snapshot.basis)
            snapshot.close()

        reader = threading.Thread(target=read)
        reader.start()
        while not _waiting_for_the_append_lock(database):  # the reader is at the barrier
            assert reader.is_alive()
        assert not opened
        appending.commit()
    reader.join()
    assert opened and opened[0] is not None and opened[0].position == 0


def test_an_append_holding_the_lock_past_the_wait_is_a_clear_error(
    database: TestDatabase,
) -> None:
    with database.app_engine.connect() as appending:
        appending.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        snapshot = queries.Snapshot(database.app_engine, wait=0.05)
        with pytest.raises(NotYetKnown, match="append in flight"), snapshot.connection():
            pass
        snapshot.close()
        appending.rollback()
    # and once it has let go, the read goes ahead
    snapshot = queries.Snapshot(database.app_engine, wait=0.05)
    with snapshot.connection():
        assert snapshot.basis is not None
    snapshot.close()
