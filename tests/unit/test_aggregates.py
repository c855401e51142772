"""Aggregates decide from a stream's history whether a command may follow; each refusal names why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.aggregates import (
    RetractionTarget,
    deal_state,
    decide_deal,
    decide_entity,
    decide_retraction,
    entity_state,
)
from ledger.domain.errors import ValidationError

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2025, 9, 22, tzinfo=dt.UTC)
KNOWN = {"nvidia", "openai", "oracle"}


@dataclass
class E:
    type: str
    data: dict[str, Any]
    effective_at: dt.datetime = T0
    position: int = field(default=0)


def leg(**overrides: Any) -> dict[str, Any]:
    return {
        "leg": "equity",
        "payer": "nvidia",
        "payee": "openai",
        "instrument": "equity",
        "headline_usd": "100000000000",
        "committed_usd": "10000000000",
    } | overrides


def announced(*legs: dict[str, Any]) -> E:
    return E("DealAnnounced", {"deal_id": "nv-oai", "title": "t", "legs": list(legs) or [leg()]})


def refused(call, *args) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        call(*args)
    return info.value


def test_an_entity_cannot_be_registered_twice() -> None:
    state = entity_state(
        [E("EntityRegistered", {"entity_id": "openai", "name": "OpenAI", "kind": "company"})]
    )
    error = refused(decide_entity, state, "EntityRegistered", {"entity_id": "openai"})
    assert error.field == "data.entity_id" and "already exists" in error.reason


def test_an_unknown_entity_cannot_be_renamed_or_valued() -> None:
    for type in ("EntityRenamed", "ValuationReported", "RevenueReported"):
        error = refused(decide_entity, entity_state([]), type, {"entity_id": "ghost"})
        assert "unknown entity 'ghost'" in error.reason


def test_a_rename_folds_into_the_current_name_and_keeps_the_old_ones() -> None:
    state = entity_state(
        [
            E("EntityRenamed", {"entity_id": "openai", "name": "OpenAI Group"}, T0 + DAY, 2),
            E(
                "EntityRegistered",
                {"entity_id": "openai", "name": "OpenAI", "kind": "company"},
                T0,
                1,
            ),
        ]
    )
    assert state.name == "OpenAI Group" and state.names == ["OpenAI", "OpenAI Group"]


def test_a_deal_cannot_be_announced_twice() -> None:
    error = refused(
        decide_deal, deal_state([announced()]), "DealAnnounced", announced().data, KNOWN
    )
    assert error.field == "data.deal_id" and "already exists" in error.reason


@pytest.mark.parametrize("type", ["DealAmended", "TrancheFunded", "DealTerminated"])
def test_an_unknown_deal_cannot_be_changed(type: str) -> None:
    error = refused(decide_deal, deal_state([]), type, {"deal_id": "nv-oai"}, KNOWN)
    assert "unknown deal" in error.reason


@pytest.mark.parametrize("type", ["DealAmended", "TrancheFunded", "DealTerminated"])
def test_a_terminated_deal_cannot_be_changed(type: str) -> None:
    state = deal_state(
        [announced(), E("DealTerminated", {"deal_id": "nv-oai", "reason": "x"}, T0 + DAY)]
    )
    error = refused(decide_deal, state, type, {"deal_id": "nv-oai"}, KNOWN)
    assert "terminated" in error.reason


def test_legs_must_name_known_entities() -> None:
    data = announced(leg(), leg(leg="chips", payee="ghost", instrument="purchase")).data
    error = refused(decide_deal, deal_state([]), "DealAnnounced", data, KNOWN)
    assert error.field == "data.legs[1].payee" and "ghost" in error.reason


def test_a_tranche_may_fund_up_to_what_is_left_of_its_leg() -> None:
    state = deal_state(
        [
            announced(),
            E(
                "TrancheFunded",
                {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "6000000000"},
                T0 + DAY,
            ),
        ]
    )
    assert state.left_on("equity") == Decimal("4000000000")
    decide_deal(
        state,
        "TrancheFunded",
        {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "4000000000"},
        KNOWN,
    )
    error = refused(
        decide_deal,
        state,
        "TrancheFunded",
        {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "4000000001"},
        KNOWN,
    )
    assert error.field == "data.amount_usd" and "4000000000" in error.reason


def test_a_tranche_of_a_leg_without_a_firm_part_is_limited_by_its_headline() -> None:
    headline_only = leg()
    del headline_only["committed_usd"]
    state = deal_state([announced(headline_only)])
    assert state.left_on("equity") == Decimal("100000000000")


def test_a_tranche_names_an_existing_leg() -> None:
    error = refused(
        decide_deal,
        deal_state([announced()]),
        "TrancheFunded",
        {"deal_id": "nv-oai", "leg": "loan", "amount_usd": "1"},
        KNOWN,
    )
    assert error.field == "data.leg" and "no leg 'loan'" in error.reason


def test_an_amendment_replaces_the_legs_and_keeps_what_was_funded() -> None:
    state = deal_state(
        [
            announced(),
            E("TrancheFunded", {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "1"}, T0 + DAY),
            E(
                "DealAmended",
                {"deal_id": "nv-oai", "legs": [leg(committed_usd="20")], "reason": "r"},
                T0 + 2 * DAY,
            ),
        ]
    )
    assert state.legs["equity"]["committed_usd"] == "20" and state.left_on("equity") == Decimal(19)


def test_an_amendment_may_not_drop_a_funded_leg() -> None:
    state = deal_state(
        [announced(), E("TrancheFunded", {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "1"})]
    )
    data = {"deal_id": "nv-oai", "legs": [leg(leg="other")], "reason": "r"}
    error = refused(decide_deal, state, "DealAmended", data, KNOWN)
    assert error.field == "data.legs" and "funded" in error.reason


def test_a_fold_follows_effective_time_then_position() -> None:
    # A back-dated rename recorded later does not override a rename effective after it.
    registered = E("EntityRegistered", {"entity_id": "x", "name": "X", "kind": "company"}, T0, 1)
    newer = E("EntityRenamed", {"entity_id": "x", "name": "Newer"}, T0 + 2 * DAY, 2)
    backdated = E("EntityRenamed", {"entity_id": "x", "name": "Older"}, T0 + DAY, 3)
    assert entity_state([registered, newer, backdated]).name == "Newer"
    same_time = E("EntityRenamed", {"entity_id": "x", "name": "Latest"}, T0 + 2 * DAY, 4)
    assert entity_state([same_time, registered, newer]).name == "Latest"


@pytest.mark.parametrize(
    "target,reason",
    [
        (None, "unknown event"),
        (RetractionTarget("EventRetracted", False), "cannot be retracted"),
        (RetractionTarget("ValuationReported", True), "already retracted"),
    ],
)
def test_a_retraction_needs_a_live_event_that_is_not_itself_a_retraction(
    target: RetractionTarget | None, reason: str
) -> None:
    error = refused(decide_retraction, target, {"target_event_id": "x"})
    assert error.field == "data.target_event_id" and reason in error.reason


def test_a_retraction_of_a_live_event_is_allowed() -> None:
    decide_retraction(RetractionTarget("ValuationReported", False), {"target_event_id": "x"})


def test_a_retracted_event_no_longer_counts() -> None:
    import uuid

    tranche = E(
        "TrancheFunded", {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "5"}, T0 + DAY
    )
    tranche.event_id = uuid.uuid4()  # type: ignore[attr-defined]
    retraction = E("EventRetracted", {"target_event_id": str(tranche.event_id), "reason": "typo"})  # type: ignore[attr-defined]
    assert deal_state([announced(), tranche]).funded == {"equity": Decimal(5)}
    assert deal_state([announced(), tranche, retraction]).funded == {}
