"""The bundled AI deal web, loaded into a real ledger, against what the seed articles say."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger import queries
from ledger.domain import analysis
from ledger.projections.projector import Projector
from ledger.store import EventStore
from ledger.transfer.seed import load_seed
from tests.conftest import TestDatabase

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # knownAt: everything recorded so far
B = Decimal(10**9)


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def seeded(store: EventStore, database: TestDatabase) -> TestDatabase:
    report = load_seed(store)
    assert report.ok, report.refused
    Projector(database.app_engine, store).run_once()
    return database


def test_the_seed_loads_whole_and_a_second_load_writes_nothing(store: EventStore) -> None:
    first = load_seed(store)
    assert first.ok and first.written == first.lines
    again = load_seed(store)
    assert again.ok and again.written == 0 and again.already_recorded == first.lines


def test_every_event_names_its_source(seeded: TestDatabase, store: EventStore) -> None:
    events = store.read(after=0, limit=10_000)
    assert events, "the seed recorded nothing"
    for event in events:
        assert event.source.get("url", "").startswith("https://") or event.source.get("title")


@pytest.mark.parametrize(
    ("as_of", "billions"),
    [("2024-12-31", 157), ("2025-04-30", 300), ("2025-10-31", 500)],
)
def test_openai_valuation_is_what_the_articles_say(
    seeded: TestDatabase, as_of: str, billions: int
) -> None:
    view = queries.entity(seeded.app_engine, "openai", day(as_of), LATER)
    assert view is not None and view.node.valuation_usd == billions * B


def _nvidia_openai_edges(engine, as_of: str) -> list:
    g = queries.graph(engine, day(as_of), LATER)
    return [e for e in g.edges if {e.payer, e.payee} == {"nvidia", "openai"}]


def test_there_is_no_nvidia_openai_deal_before_september_2025(seeded: TestDatabase) -> None:
    assert _nvidia_openai_edges(seeded.app_engine, "2025-08-31") == []


def test_the_nvidia_openai_deal_is_live_by_october_2025_and_money_goes_round(
    seeded: TestDatabase,
) -> None:
    edges = _nvidia_openai_edges(seeded.app_engine, "2025-10-01")
    assert {(e.payer, e.payee, e.instrument) for e in edges} >= {
        ("nvidia", "openai", "equity"),
        ("openai", "nvidia", "purchase"),
    }
    equity = next(e for e in edges if e.instrument == "equity")
    assert equity.amount_usd == 100 * B  # "up to $100B"
    cycles = queries.circular_flows(seeded.app_engine, day("2025-10-01"), LATER, through="nvidia")
    assert any(set(c.entities) == {"nvidia", "openai"} for c in cycles)


def test_openai_commitments_are_of_the_order_the_articles_give(seeded: TestDatabase) -> None:
    """The articles: about $1T of commitments against about $13B of 2025 revenue. The data set
    holds only sourced dollar figures (capacity-only deals count 0): docs/dataset.md."""
    view = queries.entity(seeded.app_engine, "openai", day("2025-10-31"), LATER)
    assert view is not None
    committed = analysis.commitments(view.edges, "openai")
    assert 500 * B <= committed <= 1500 * B
    forecast = [r for r in view.revenue_reports if r.forecast and r.period_end.year == 2025]
    assert forecast and forecast[-1].revenue_usd == 13 * B
    assert view.commitment_ratio is not None and view.commitment_ratio > 40
