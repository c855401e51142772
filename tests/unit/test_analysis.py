"""The derived measures of spec section 3: exposures, commitment ratio, concentration, cycles,
stress test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.analysis import (
    Cycle,
    annualised,
    circular_flows,
    commitment_ratio,
    customer_concentration,
    entity_exposures,
    exposures,
    stress_test,
)
from ledger.domain.views import Edge, RevenueReport

B = Decimal(10) ** 9


def edge(payer: str, payee: str, instrument: str, billions: int | str, deal: str = "d") -> Edge:
    return Edge(
        deal, f"{payer}-{payee}-{instrument}", payer, payee, instrument, Decimal(billions) * B
    )


def quarter(revenue: str, start: str = "2025-01-01", end: str = "2025-03-31") -> RevenueReport:
    return RevenueReport(
        entity_id="openai",
        period_start=dt.date.fromisoformat(start),
        period_end=dt.date.fromisoformat(end),
        revenue_usd=Decimal(revenue),
        forecast=False,
        effective_at=dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
        position=1,
    )


# -- exposures ----------------------------------------------------------------------------------


def test_equity_loan_and_guarantee_expose_the_payer_to_the_payee() -> None:
    edges = [edge("nvidia", "openai", "equity", 100), edge("bank", "openai", "loan", 4)]
    assert exposures(edges) == {("nvidia", "openai"): 100 * B, ("bank", "openai"): 4 * B}


def test_purchases_backstops_revenue_shares_and_warrants_expose_the_payee() -> None:
    edges = [
        edge("openai", "oracle", "purchase", 300),
        edge("openai", "coreweave", "backstop", 6),
        edge("openai", "microsoft", "revenue_share", 1),
        edge("amd", "openai", "warrant", 0),
    ]
    assert exposures(edges) == {
        ("oracle", "openai"): 300 * B,
        ("coreweave", "openai"): 6 * B,
        ("microsoft", "openai"): 1 * B,
        ("openai", "amd"): 0,
    }


def test_legs_between_the_same_parties_add_up_in_an_entitys_exposures() -> None:
    edges = [
        edge("nvidia", "openai", "equity", 100),
        edge("openai", "nvidia", "purchase", 50),
        edge("openai", "oracle", "purchase", 300),
    ]
    view = entity_exposures(edges, "nvidia")
    assert view.outgoing == [("openai", 150 * B)]
    assert view.incoming == []
    assert entity_exposures(edges, "openai").incoming == [("oracle", 300 * B), ("nvidia", 150 * B)]


# -- commitment ratio and concentration ---------------------------------------------------------


def test_revenue_is_annualised_over_the_days_of_its_period_both_ends_counted() -> None:
    assert quarter("90", "2025-01-01", "2025-03-31").annualised_usd == Decimal(365)
    assert annualised(Decimal(10), dt.date(2025, 1, 1), dt.date(2025, 1, 1)) == Decimal(3650)


def test_the_commitment_ratio_is_purchases_and_backstops_paid_over_annual_revenue() -> None:
    edges = [
        edge("openai", "oracle", "purchase", 300),
        edge("openai", "coreweave", "backstop", 60),
        edge("openai", "amd", "equity", 1000),  # not a commitment to buy
        edge("nvidia", "openai", "purchase", 5),  # openai is paid, not paying
    ]
    revenue = quarter(str(9 * B), "2025-01-01", "2025-03-31")  # 90 days -> 36.5B a year
    assert commitment_ratio(edges, "openai", revenue) == Decimal(360) / Decimal("36.5")


def test_no_commitment_ratio_without_revenue_to_divide_by() -> None:
    edges = [edge("openai", "oracle", "purchase", 300)]
    assert commitment_ratio(edges, "openai", None) is None
    assert commitment_ratio(edges, "openai", quarter("0")) is None


def test_customer_concentration_is_the_share_of_purchases_from_the_largest_buyers() -> None:
    edges = [
        edge("openai", "oracle", "purchase", 300),
        edge("meta", "oracle", "purchase", 20),
        edge("xai", "oracle", "purchase", 80),
        edge("oracle", "nvidia", "purchase", 40),  # oracle buying: not a sale of oracle's
    ]
    c = customer_concentration(edges, "oracle")
    assert c.customers == [("openai", 300 * B), ("xai", 80 * B), ("meta", 20 * B)]
    assert c.share(1) == Decimal("0.75") and c.share(2) == Decimal("0.95")
    assert customer_concentration(edges, "meta").share() is None


# -- circular flows -----------------------------------------------------------------------------


def test_the_nvidia_openai_loop_is_a_cycle_of_its_smallest_edge() -> None:
    edges = [edge("nvidia", "openai", "equity", 100), edge("openai", "nvidia", "purchase", 40)]
    assert circular_flows(edges) == [Cycle(("nvidia", "openai"), 40 * B)]


def test_legs_between_the_same_ordered_pair_are_summed_before_taking_the_minimum() -> None:
    edges = [
        edge("nvidia", "openai", "equity", 100),
        edge("openai", "nvidia", "purchase", 40),
        edge("openai", "nvidia", "purchase", 30, deal="d2"),
    ]
    assert circular_flows(edges) == [Cycle(("nvidia", "openai"), 70 * B)]


def test_cycles_longer_than_six_entities_are_not_reported() -> None:
    ring = [f"e{i}" for i in range(7)]
    edges = [edge(a, b, "loan", 1) for a, b in zip(ring, ring[1:] + ring[:1], strict=True)]
    assert circular_flows(edges) == []
    assert circular_flows(edges, max_entities=7) == [Cycle(tuple(ring), B)]


def test_min_amount_and_through_narrow_the_cycles() -> None:
    edges = [
        edge("a", "b", "loan", 10),
        edge("b", "a", "loan", 1),
        edge("b", "c", "loan", 10),
        edge("c", "b", "loan", 10),
    ]
    assert circular_flows(edges) == [Cycle(("b", "c"), 10 * B), Cycle(("a", "b"), B)]
    assert circular_flows(edges, min_amount=2 * B) == [Cycle(("b", "c"), 10 * B)]
    assert circular_flows(edges, through="a") == [Cycle(("a", "b"), B)]
    assert circular_flows(edges, limit=1) == [Cycle(("b", "c"), 10 * B)]


names = st.sampled_from("abcdefgh")
random_edges = st.lists(
    st.tuples(names, names, st.integers(0, 5)).filter(lambda t: t[0] != t[1]), max_size=22
)


@settings(max_examples=300)
@given(random_edges, st.integers(0, 5), st.sampled_from([None, "a", "b"]))
def test_circular_flows_are_the_elementary_cycles_networkx_finds(
    raw: list[tuple[str, str, int]], min_billions: int, through: str | None
) -> None:
    edges = [edge(a, b, "loan", n) for a, b, n in raw]
    amounts: dict[tuple[str, str], Decimal] = {}
    for e in edges:
        amounts[(e.payer, e.payee)] = amounts.get((e.payer, e.payee), Decimal(0)) + e.amount_usd
    g = nx.DiGraph(list(amounts))
    expected = set()
    for cycle in nx.simple_cycles(g, length_bound=6):
        pairs = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        low = min(amounts[p] for p in pairs)
        if low >= min_billions * B and (through is None or through in cycle):
            i = cycle.index(min(cycle))
            expected.add(Cycle(tuple(cycle[i:] + cycle[:i]), low))
    found = circular_flows(edges, min_amount=min_billions * B, through=through)
    assert len(found) == len(set(found))
    assert set(found) == expected


# -- stress test --------------------------------------------------------------------------------


def test_a_default_cascades_round_by_round_until_nothing_changes() -> None:
    edges = [
        edge("openai", "oracle", "purchase", 300),  # oracle exposed to openai: 300
        edge("coreweave", "oracle", "loan", 50),  # coreweave exposed to oracle: 50
        edge("nvidia", "openai", "equity", 100),  # nvidia exposed to openai: 100
    ]
    valuations = {"oracle": 600 * B, "coreweave": 60 * B, "nvidia": 4000 * B, "openai": 500 * B}
    result = stress_test(edges, valuations, ["openai"], Decimal("0.5"), Decimal("0.2"))
    first, second, third = result.rounds
    assert first.defaulted == ("openai",)
    assert [(x.entity_id, x.loss_usd) for x in first.losses] == [
        ("oracle", 150 * B),
        ("nvidia", 50 * B),
    ]
    assert first.losses[0].share_of_valuation == Decimal("0.25")
    assert first.new_defaults == ("oracle",)
    assert second.defaulted == ("openai", "oracle")
    assert [(x.entity_id, x.loss_usd) for x in second.losses] == [
        ("nvidia", 50 * B),
        ("coreweave", 25 * B),
    ]
    assert second.new_defaults == ("coreweave",)
    assert third.new_defaults == () and result.defaulted == ("coreweave", "openai", "oracle")


def test_an_entity_without_a_valuation_takes_losses_but_never_defaults_by_share() -> None:
    edges = [edge("fund", "openai", "loan", 10)]
    result = stress_test(edges, {}, ["openai"], Decimal(0), Decimal("0.01"))
    assert result.rounds[0].losses[0].share_of_valuation is None
    assert len(result.rounds) == 1


@pytest.mark.parametrize(
    ("recovery", "threshold", "message"),
    [("1.5", "0.1", "recovery_rate"), ("-0.1", "0.1", "recovery_rate"), ("0.5", "0", "threshold")],
)
def test_a_stress_test_refuses_rates_outside_their_range(
    recovery: str, threshold: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        stress_test([], {}, ["openai"], Decimal(recovery), Decimal(threshold))


@settings(max_examples=200)
@given(random_edges, st.integers(1, 6), st.sampled_from([None, "a"]))
def test_a_limit_keeps_the_largest_cycles(
    raw: list[tuple[str, str, int]], limit: int, through: str | None
) -> None:
    edges = [edge(a, b, "loan", n) for a, b, n in raw]
    everything = circular_flows(edges, through=through)
    top = circular_flows(edges, through=through, limit=limit)
    assert len(top) == min(limit, len(everything))
    assert [c.amount_usd for c in top] == [c.amount_usd for c in everything[:limit]]
    assert set(top) <= set(everything)
