"""The Merkle tree kept beside the log: grown by the projector, built for existing ledgers by
migration 0012, rebuilt by the rebuild, equal to the reference tree of the events' hashes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from ledger.domain.merkle import MemoryTree, event_leaf_hash, root_hash
from ledger.projections.digest import digest
from ledger.projections.projector import Projector
from ledger.projections.rebuild import rebuild
from ledger.store import EventStore, migrate
from ledger.store import tree as stored_tree
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import fill, registered, valuation


def event_hashes(store: EventStore) -> list[str]:
    return [event.hash for event in store.iter_events()]


def reference(store: EventStore) -> MemoryTree:
    return MemoryTree(event_leaf_hash(h) for h in event_hashes(store))


def with_cursor(database: TestDatabase, work: Any) -> Any:
    pooled = database.app_engine.raw_connection()
    try:
        conn = pooled.driver_connection
        with conn.cursor() as cur:
            result = work(cur)
        conn.rollback()
        return result
    finally:
        pooled.close()


def stored_root(database: TestDatabase, size: int | None = None) -> tuple[int, bytes]:
    def work(cur: Any) -> tuple[int, bytes]:
        n = stored_tree.size(cur) if size is None else size
        return n, root_hash(n, lambda nodes: stored_tree.subtrees(cur, nodes))

    return with_cursor(database, work)


def node_count(database: TestDatabase) -> int:
    with database.owner_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM merkle_nodes")).scalar_one()


def test_the_projector_grows_the_tree_batch_by_batch_to_the_reference_root(
    database: TestDatabase, store: EventStore
) -> None:
    projector = Projector(database.app_engine, store, batch_size=7)
    for i in range(5):  # sizes that are and are not powers of two, batches that split them
        store.append(
            f"entity/e{i}",
            [registered(f"e{i}")] + [valuation(str(1000 + k), f"e{i}") for k in range(i)],
        )
        projector.run_once()
        ref = reference(store)
        assert stored_root(database) == (ref.size, ref.root())
        for size in range(1, ref.size + 1):  # every earlier tree is still in the table
            assert stored_root(database, size)[1] == ref.root(size)
    assert node_count(database) == 2 * ref.size - ref.size.bit_count()


def test_the_stored_root_is_pymerkles_root_too(database: TestDatabase, store: EventStore) -> None:
    from pymerkle import InmemoryTree

    fill(store, entities=3, valuations=6, deals=4)  # 25 events
    Projector(database.app_engine, store).run_once()
    independent = InmemoryTree(algorithm="sha256")
    for h in event_hashes(store):
        independent.append_entry(bytes.fromhex(h))
    assert stored_root(database) == (independent.get_size(), independent.get_root())


def test_the_rebuild_builds_the_same_tree(database: TestDatabase, store: EventStore) -> None:
    fill(store, entities=5, valuations=10, deals=20)
    Projector(database.app_engine, store).run_once()
    kept = digest(database.app_engine)
    rebuild(database.owner_engine, app_role=APP_ROLE, chunk=16)
    assert digest(database.app_engine) == kept
    ref = reference(store)
    assert stored_root(database) == (ref.size, ref.root())


def test_migration_0012_builds_the_tree_of_an_existing_ledger(
    database: TestDatabase, store: EventStore
) -> None:
    fill(store, entities=3, valuations=10, deals=12)  # 45 events: not a power of two
    migrate.downgrade(database.owner_engine, "0011", app_role=APP_ROLE)
    migrate.upgrade(database.owner_engine, app_role=APP_ROLE)
    ref = reference(store)
    assert stored_root(database) == (ref.size, ref.root())
    assert node_count(database) == 2 * ref.size - ref.size.bit_count()
    # and the projector carries on from it
    store.append("entity/late", [registered("late")])
    Projector(database.app_engine, store).run_once()
    ref = reference(store)
    assert stored_root(database) == (ref.size, ref.root())


def test_a_node_missing_from_the_table_is_named(database: TestDatabase, store: EventStore) -> None:
    store.append("entity/a", [registered("a"), valuation("1", "a"), valuation("2", "a")])
    Projector(database.app_engine, store).run_once()
    with database.owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM merkle_nodes WHERE level = 1"))
    with pytest.raises(stored_tree.TreeBroken, match="level 1, index 0"):
        stored_root(database)


def test_ledger_verify_checks_the_stored_root(database: TestDatabase, store: EventStore) -> None:
    from ledger.store.verify import verify

    fill(store, entities=2, valuations=4, deals=3)
    Projector(database.app_engine, store).run_once()
    report = verify(store)
    assert report.ok and f"merkle tree verified: {store.head().position} events" in (
        report.describe()
    )
    with database.owner_engine.begin() as conn:
        # The root of 13 leaves folds the subtrees of leaves 0-7, 8-11 and 12: spoil 8-11.
        conn.execute(
            text("UPDATE merkle_nodes SET hash = sha256(hash) WHERE level = 2 AND index = 2")
        )
    report = verify(store)
    assert not report.ok and report.broken is None
    assert "merkle tree BROKEN: the stored tree of" in report.describe()
