"""The replay oracle answers as the spec reads: what the ledger said at knownAt about asOf."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.replay import graph

D = dt.timedelta(days=1)
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass
class Ev:
    stream: str
    type: str
    data: dict[str, Any]
    effective_at: dt.datetime
    recorded_at: dt.datetime
    position: int = 0
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


class History:
    """Builds a history in recording order: each event one day after the previous one."""

    def __init__(self) -> None:
        self.events: list[Ev] = []

    def add(self, stream: str, type: str, data: dict[str, Any], effective_at: dt.datetime) -> Ev:
        n = len(self.events) + 1
        event = Ev(stream, type, data, effective_at, T0 + n * D, n)
        self.events.append(event)
        return event

    def entity(self, entity_id: str) -> Ev:
        data = {"entity_id": entity_id, "name": entity_id.title(), "kind": "company"}
        return self.add(f"entity/{entity_id}", "EntityRegistered", data, T0)


def leg(instrument: str = "equity", **overrides: Any) -> dict[str, Any]:
    return {
        "leg": instrument,
        "payer": "nvidia",
        "payee": "openai",
        "instrument": instrument,
        "headline_usd": "100",
        "committed_usd": "10",
    } | overrides


@pytest.fixture
def history() -> History:
    h = History()
    h.entity("nvidia")
    h.entity("openai")
    return h


FAR = T0 + 1000 * D


def test_an_equity_leg_exposes_the_payer_to_the_payee(history: History) -> None:
    history.add("deal/d", "DealAnnounced", {"deal_id": "d", "title": "t", "legs": [leg()]}, T0)
    assert graph(history.events, FAR, FAR).exposures() == {("nvidia", "openai"): Decimal(100)}


def test_a_purchase_leg_exposes_the_payee_to_the_payer(history: History) -> None:
    legs = [leg("purchase", payer="openai", payee="nvidia")]
    history.add("deal/d", "DealAnnounced", {"deal_id": "d", "title": "t", "legs": legs}, T0)
    assert graph(history.events, FAR, FAR).exposures() == {("nvidia", "openai"): Decimal(100)}


def test_the_basis_chooses_the_amount_of_a_leg(history: History) -> None:
    history.add("deal/d", "DealAnnounced", {"deal_id": "d", "title": "t", "legs": [leg()]}, T0)
    history.add("deal/d", "TrancheFunded", {"deal_id": "d", "leg": "equity", "amount_usd": "4"}, T0)
    amounts = {
        b: graph(history.events, FAR, FAR, b).edges[0].amount_usd
        for b in ("HEADLINE", "COMMITTED", "FUNDED")
    }
    assert amounts == {"HEADLINE": Decimal(100), "COMMITTED": Decimal(10), "FUNDED": Decimal(4)}


def test_a_terminated_deal_has_no_edges_after_its_termination(history: History) -> None:
    history.add("deal/d", "DealAnnounced", {"deal_id": "d", "title": "t", "legs": [leg()]}, T0)
    history.add("deal/d", "DealTerminated", {"deal_id": "d", "reason": "r"}, T0 + 10 * D)
    assert graph(history.events, T0 + 5 * D, FAR).edges
    assert not graph(history.events, T0 + 10 * D, FAR).edges


def test_a_back_dated_correction_changes_todays_view_of_the_past_only(history: History) -> None:
    history.add(
        "entity/openai",
        "ValuationReported",
        {"entity_id": "openai", "valuation_usd": "300", "basis": "estimate"},
        T0 + 30 * D,
    )
    before = history.events[-1].recorded_at
    # Recorded later, effective earlier than the first report's date... and than as_of below.
    history.add(
        "entity/openai",
        "ValuationReported",
        {"entity_id": "openai", "valuation_usd": "157", "basis": "funding_round"},
        T0 + 40 * D,
    )
    as_of = T0 + 50 * D
    assert graph(history.events, as_of, FAR).nodes["openai"].valuation_usd == Decimal(157)
    assert graph(history.events, as_of, before).nodes["openai"].valuation_usd == Decimal(300)


def test_a_retraction_removes_the_event_from_views_known_after_it(history: History) -> None:
    v = history.add(
        "entity/openai",
        "ValuationReported",
        {"entity_id": "openai", "valuation_usd": "500", "basis": "estimate"},
        T0,
    )
    history.add(
        "entity/openai", "EventRetracted", {"target_event_id": str(v.event_id), "reason": "x"}, T0
    )
    retracted_at = history.events[-1].recorded_at
    assert graph(history.events, FAR, retracted_at).nodes["openai"].valuation_usd is None
    assert graph(history.events, FAR, retracted_at - D).nodes["openai"].valuation_usd == Decimal(
        500
    )


def test_an_event_not_yet_effective_is_not_seen(history: History) -> None:
    history.add(
        "deal/d", "DealAnnounced", {"deal_id": "d", "title": "t", "legs": [leg()]}, T0 + 100 * D
    )
    assert not graph(history.events, T0 + 99 * D, FAR).edges


def test_nodes_carry_the_latest_actual_revenue_not_a_forecast(history: History) -> None:
    def report(end: str, revenue: str, forecast: bool) -> None:
        data = {
            "entity_id": "openai",
            "period_start": "2025-01-01",
            "period_end": end,
            "revenue_usd": revenue,
            "forecast": forecast,
        }
        history.add("entity/openai", "RevenueReported", data, T0)

    report("2025-06-30", "4300", False)
    report("2025-12-31", "13000", True)
    node = graph(history.events, dt.datetime(2026, 1, 2, tzinfo=dt.UTC), FAR).nodes["openai"]
    assert node.revenue is not None and node.revenue.revenue_usd == 4300
