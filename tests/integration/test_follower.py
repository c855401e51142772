"""Inside the service, the read models follow the log as events are appended."""

from __future__ import annotations

import datetime as dt
import time

from ledger import queries
from ledger.projections.follower import Follower
from ledger.projections.projector import Projector
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.factories import registered, valuation

NOW = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def test_appended_events_reach_the_read_models_without_anyone_asking(
    database: TestDatabase, store: EventStore
) -> None:
    projector = Projector(database.app_engine, store)
    # A long poll interval: only the append's notification can wake the follower in time.
    follower = Follower(projector, poll_seconds=60).start()
    try:
        assert follower.caught_up.wait(30)
        store.append("entity/openai", [registered(), valuation("500000000000")])
        deadline = time.monotonic() + 30
        while projector.status().lag:
            assert time.monotonic() < deadline, "the follower never projected the append"
            follower.caught_up.clear()
            follower.caught_up.wait(1)
    finally:
        follower.stop()
    node = queries.graph(database.app_engine, NOW, NOW).nodes["openai"]
    assert node.valuation_usd == 500_000_000_000
