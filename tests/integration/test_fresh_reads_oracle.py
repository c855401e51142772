"""Fresh reads agree with the replay oracle while a follower projects, as in ``ledger serve``
(issue 15): after each random write, the graph at ``knownAt`` = its ``recordedAt``, at
``atLeastPosition`` = its position, and pinned ``atPosition`` = the position before it, each
compared with the oracle's fold of the same prefix.

``LEDGER_TEST_HISTORIES`` histories (CI: the issue's 500; 50 for a quick local run), as for
the properties of test_read_models.py, whose generators and oracle comparison it shares. It
sits in a file of its own so that pytest-xdist (``--dist loadfile``) runs it beside those.
Cost, measured 2026-12-04 on the shared two-core machine (load 3.5-4.5): 0.23-0.38 s a
history (the 50 of before in 18 s; the 500 in 189 s as one function, 115 s as five of 100), so
about 3 minutes of one xdist worker per suite run.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import queries
from ledger.domain import replay
from ledger.projections.follower import Follower
from ledger.projections.projector import Projector
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.integration.test_read_models import (
    ENTITIES,
    HISTORIES,
    T0,
    assert_same,
    edge_key,
    operation,
    perform,
    start_afresh,
)


@pytest.fixture
def projector(database: TestDatabase, store: EventStore) -> Projector:
    return Projector(database.app_engine, store)


@pytest.mark.timeout(1200)
@settings(
    max_examples=HISTORIES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=10), seed=st.integers(0, 2**32))
def test_fresh_reads_agree_with_the_replay_oracle_while_the_projector_follows(
    store: EventStore,
    database: TestDatabase,
    projector: Projector,
    ops: list[tuple[Any, ...]],
    seed: int,
) -> None:
    # As in `ledger serve`: a follower projects as events arrive, and every read is asked at
    # once after a write, at knownAt = its recordedAt, at atLeastPosition = its position, and
    # pinned at the position before it: never a partial view (issue 15).
    start_afresh(database)
    rng = random.Random(seed)
    engine = database.app_engine
    follower = Follower(projector, poll_seconds=0.05).start()
    try:
        recorded: list[Any] = []
        for op in ops:
            before = len(list(store.iter_events()))
            perform(store, op, recorded)
            events = list(store.iter_events())
            if len(events) == before:
                continue
            written = events[-1]
            as_of = T0 + dt.timedelta(days=rng.randint(-1, 400))
            basis = rng.choice(replay.BASES)
            assert_same(store, database, as_of, written.recorded_at, basis, rng)
            expected = replay.graph(events, as_of, written.recorded_at, basis)
            fresh = queries.graph(engine, as_of, None, basis, at_least=written.position)
            assert fresh.nodes == expected.nodes
            assert sorted(fresh.edges, key=edge_key) == sorted(expected.edges, key=edge_key)
            # pinned to the prefix before the write: as the oracle folds that prefix
            prefix = events[: written.position - 1]
            far = written.recorded_at + dt.timedelta(days=1)
            pinned = queries.graph(engine, as_of, far, basis, at_position=written.position - 1)
            then = replay.graph(prefix, as_of, far, basis)
            assert pinned.nodes == then.nodes
            assert sorted(pinned.edges, key=edge_key) == sorted(then.edges, key=edge_key)
            entity_id = rng.choice(ENTITIES)
            view = queries.entity(
                engine, entity_id, as_of, None, basis, at_position=written.position - 1
            )
            oracle_view = replay.entity(prefix, entity_id, as_of, far, basis)
            assert (view.node if view else None) == (oracle_view.node if oracle_view else None)
    finally:
        follower.stop()
