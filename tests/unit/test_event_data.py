"""Each event type's data: what is required, what is refused, and the normalised form recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import ValidationError
from ledger.domain.event_data import validate_data
from ledger.domain.money import format_usd, parse_usd


def leg(**overrides: Any) -> dict[str, Any]:
    return {
        "leg": "equity",
        "payer": "nvidia",
        "payee": "openai",
        "instrument": "equity",
        "headline_usd": "100000000000",
        "committed_usd": "10000000000",
    } | overrides


VALID: dict[str, dict[str, Any]] = {
    "EntityRegistered": {"entity_id": "openai", "name": "OpenAI", "kind": "company"},
    "EntityRenamed": {"entity_id": "openai", "name": "OpenAI Group PBC"},
    "DealAnnounced": {"deal_id": "nvidia-openai", "title": "Nvidia invests", "legs": [leg()]},
    "DealAmended": {"deal_id": "nvidia-openai", "legs": [leg()], "reason": "first tranche set"},
    "TrancheFunded": {"deal_id": "nvidia-openai", "leg": "equity", "amount_usd": 10**10},
    "DealTerminated": {"deal_id": "nvidia-openai", "reason": "called off"},
    "ValuationReported": {
        "entity_id": "openai",
        "valuation_usd": "500000000000",
        "basis": "secondary_sale",
    },
    "RevenueReported": {
        "entity_id": "openai",
        "period_start": "2025-01-01",
        "period_end": "2025-06-30",
        "revenue_usd": "4300000000",
        "net_income_usd": "-13500000000",
        "forecast": False,
    },
    "EventRetracted": {"target_event_id": str(uuid.UUID(int=7)), "reason": "misreported"},
}


def refusal(type: str, data: Any, stream: str | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_data(type, data, stream)
    return info.value


@pytest.mark.parametrize("type", sorted(VALID))
def test_every_event_type_accepts_its_documented_fields(type: str) -> None:
    accepted = validate_data(type, VALID[type])
    # every documented field is kept, and what was accepted is already in normal form
    assert set(accepted) == set(VALID[type])
    assert validate_data(type, accepted) == accepted


@pytest.mark.parametrize("type", sorted(VALID))
def test_every_required_field_is_named_when_missing(type: str) -> None:
    from ledger.domain.event_data import SCHEMAS

    for key in SCHEMAS[type][0]:
        data = {k: v for k, v in VALID[type].items() if k != key}
        assert refusal(type, data).field == f"data.{key}"


@pytest.mark.parametrize("type", sorted(VALID))
def test_an_unknown_field_is_refused_by_name(type: str) -> None:
    error = refusal(type, VALID[type] | {"rumour": "yes"})
    assert error.field == "data.rumour" and "unknown field" in error.reason


def test_amounts_are_recorded_as_canonical_decimal_strings() -> None:
    data = validate_data("TrancheFunded", VALID["TrancheFunded"] | {"amount_usd": "2500.50"})
    assert data["amount_usd"] == "2500.5"
    data = validate_data("TrancheFunded", VALID["TrancheFunded"] | {"amount_usd": Decimal("1E+3")})
    assert data["amount_usd"] == "1000"


@pytest.mark.parametrize(
    "amount,reason",
    [
        ("-5", "negative"),
        (-5, "negative"),
        (1.5, "floats are not exact"),
        ("1e9", "plain decimal"),
        ("1,000", "plain decimal"),
        (True, "amount in USD"),
        ("0.000000001", "decimal places"),
        ("1" * 31, "digits"),
        (Decimal("NaN"), "finite"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(amount: Any, reason: str) -> None:
    error = refusal("TrancheFunded", VALID["TrancheFunded"] | {"amount_usd": amount})
    assert error.field == "data.amount_usd" and reason in error.reason


def test_net_income_may_be_a_loss_but_revenue_may_not() -> None:
    data = validate_data("RevenueReported", VALID["RevenueReported"])
    assert data["net_income_usd"] == "-13500000000"
    error = refusal("RevenueReported", VALID["RevenueReported"] | {"revenue_usd": "-1"})
    assert error.field == "data.revenue_usd"


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    error = refusal("RevenueReported", VALID["RevenueReported"] | {"period_end": "2024-12-31"})
    assert error.field == "data.period_end" and "before period_start" in error.reason


@pytest.mark.parametrize("value", ["2025-13-01", "yesterday", dt.datetime(2025, 1, 1), 20250101])
def test_dates_must_be_calendar_dates(value: Any) -> None:
    error = refusal("RevenueReported", VALID["RevenueReported"] | {"period_start": value})
    assert error.field == "data.period_start"


@pytest.mark.parametrize(
    "field,value",
    [("kind", "startup"), ("entity_id", "OpenAI"), ("entity_id", "open_ai"), ("name", "  ")],
)
def test_entity_fields_are_checked(field: str, value: Any) -> None:
    error = refusal("EntityRegistered", VALID["EntityRegistered"] | {field: value})
    assert error.field == f"data.{field}"


@pytest.mark.parametrize(
    "legs,field,reason",
    [
        ([], "data.legs", "one or more"),
        ([leg(instrument="gift")], "data.legs[0].instrument", "must be one of"),
        ([leg(payee="nvidia")], "data.legs[0].payee", "differ from the payer"),
        ([leg(), leg()], "data.legs[1].leg", "repeats the leg id"),
        ([leg(committed_usd="2" + "0" * 11)], "data.legs[0].committed_usd", "exceeds"),
        (
            [leg(term_start="2026-01-01", term_end="2025-01-01")],
            "data.legs[0].term_end",
            "before term_start",
        ),
        ([leg(capacity_gw="-1")], "data.legs[0].capacity_gw", "negative"),
        ([leg(color="green")], "data.legs[0].color", "unknown field"),
    ],
)
def test_bad_legs_are_refused_naming_the_leg_and_field(legs: list, field: str, reason: str) -> None:
    error = refusal("DealAnnounced", VALID["DealAnnounced"] | {"legs": legs})
    assert error.field == field and reason in error.reason


def test_a_retraction_names_an_event_id() -> None:
    error = refusal("EventRetracted", VALID["EventRetracted"] | {"target_event_id": "42"})
    assert error.field == "data.target_event_id"


@pytest.mark.parametrize(
    "type,stream",
    [
        ("EntityRegistered", "entity/nvidia"),
        ("EntityRegistered", "deal/openai"),
        ("DealAnnounced", "deal/other"),
    ],
)
def test_an_event_belongs_to_the_stream_of_its_id(type: str, stream: str) -> None:
    error = refusal(type, VALID[type], stream)
    assert error.field == "stream" and "belongs in" in error.reason


def test_a_retraction_may_sit_in_any_stream() -> None:
    assert validate_data("EventRetracted", VALID["EventRetracted"], "deal/anything")


@given(st.decimals(min_value=0, max_value=Decimal("1e29"), places=8, allow_nan=False))
def test_an_amount_survives_its_canonical_text(amount: Decimal) -> None:
    assert parse_usd(format_usd(amount), "x") == amount


@given(st.decimals(min_value=0, max_value=Decimal("1e29"), places=8, allow_nan=False))
def test_the_fast_path_for_canonical_amounts_agrees_with_the_full_parse(amount: Decimal) -> None:
    from ledger.domain.event_data import usd

    for text in (format_usd(amount), format(amount, "f"), str(amount)):
        try:
            expected = format_usd(parse_usd(text, "x"))
        except ValidationError:
            with pytest.raises(ValidationError):
                usd(text, "x")
            continue
        assert usd(text, "x") == expected
