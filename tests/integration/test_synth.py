"""Synthetic ledgers: valid by construction, lopsided like real deal webs, reproducible."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from ledger import queries
from ledger.domain import replay
from ledger.projections.projector import Projector
from ledger.store import EventStore
from ledger.synth import DAYS, START, plan, synth
from tests.conftest import TestDatabase

NOW = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def test_a_synthetic_ledger_reads_the_same_from_read_models_and_oracle(
    database: TestDatabase, store: EventStore
) -> None:
    result = synth(store, events=3000, entities=40, seed=7)
    assert result.events == store.head().position
    assert abs(result.events - 3000) < 600
    Projector(database.app_engine, store).run_once()
    events = list(store.iter_events())
    types = collections.Counter(e.type for e in events)
    assert {"DealAmended", "TrancheFunded", "EventRetracted", "RevenueReported"} <= set(types)
    as_of = dt.datetime(2024, 6, 30, tzinfo=dt.UTC)
    expected = replay.graph(events, as_of, NOW, "FUNDED")
    actual = queries.graph(database.app_engine, as_of, NOW, "FUNDED")
    assert actual.nodes == expected.nodes
    assert sorted(actual.edges, key=lambda e: (e.deal_id, e.leg)) == sorted(
        expected.edges, key=lambda e: (e.deal_id, e.leg)
    )
    # lopsided: the busiest entity is party to many more deals than the median one
    degree = collections.Counter(x for e in actual.edges for x in (e.payer, e.payee))
    counts = sorted(degree.values())
    assert counts[-1] >= 4 * counts[len(counts) // 2]


def test_the_same_seed_makes_the_same_history() -> None:
    def history(seed: int) -> list[tuple[str, list]]:
        return list(plan(events=400, entities=6, seed=seed))

    assert history(3) == history(3)
    assert history(3) != history(4)


def test_a_busy_entity_restates_quarters_instead_of_reporting_into_the_far_future() -> None:
    # A hub of a power-law web gets thousands of events; its revenue reports once marched on
    # quarter after quarter into the year 4005, stretching every time axis of the bench.
    window_end = START + dt.timedelta(days=DAYS)
    reports = [
        event
        for _, events in plan(events=6000, entities=3, deals=10, seed=1)
        for event in events
        if event.type == "RevenueReported"
    ]
    assert len(reports) > 200
    assert max(dt.date.fromisoformat(e.data["period_end"]) for e in reports) <= window_end.date()
    assert max(e.effective_at for e in reports) <= window_end + dt.timedelta(days=31)


def test_impossible_sizes_are_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match=r"entities"):
        synth(store, events=100, entities=1)
    with pytest.raises(ValueError, match="events"):
        synth(store, events=10, entities=10, deals=5)
