"""The one decision of the write side, and the command values it rules on: pure, no database."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import FrozenInstanceError, dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.commands import (
    COMMANDS,
    AnnounceDeal,
    Envelope,
    FundTranche,
    RegisterEntity,
    ReportRevenue,
    ReportValuation,
    RetractEvent,
)
from ledger.domain.decisions import (
    EXISTENCE_TYPES,
    Facts,
    Located,
    decide,
    known_entities,
    parties,
)
from ledger.domain.envelope import NewEvent, prepare_one
from ledger.domain.errors import ValidationError

T0 = dt.datetime(2025, 9, 22, tzinfo=dt.UTC)
SOURCE = {"url": "https://example.com/report"}
ENVELOPE = Envelope(effective_at=T0, source=SOURCE)


@dataclass
class E:
    """A recorded event, as far as a decision looks at it."""

    type: str
    data: dict[str, Any]
    stream: str = "entity/openai"
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    effective_at: dt.datetime = T0
    position: int = 0


@dataclass(frozen=True)
class P:
    """An event about to be appended (what ``prepare_one`` gives)."""

    type: str
    data: dict[str, Any]


def registration(entity_id: str) -> E:
    data = {"entity_id": entity_id, "name": entity_id.title(), "kind": "company"}
    return E("EntityRegistered", data, stream=f"entity/{entity_id}")


def leg(payer: str = "nvidia", payee: str = "openai", **more: Any) -> dict[str, Any]:
    return {"leg": "equity", "payer": payer, "payee": payee, "instrument": "equity"} | more


def announcement(*legs: dict[str, Any]) -> P:
    return P("DealAnnounced", {"deal_id": "nv-oai", "title": "t", "legs": list(legs) or [leg()]})


def refusal(history: list[Any], prepared: P, facts: Facts) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        decide(history, prepared, facts)
    return info.value


# -- entities ---------------------------------------------------------------------------------


def test_an_entity_is_registered_once() -> None:
    again = P("EntityRegistered", registration("openai").data)
    facts = Facts("entity/openai")
    assert decide([], again, facts) is None
    error = refusal([registration("openai")], again, facts)
    assert (error.field, error.reason) == ("data.entity_id", "entity 'openai' already exists")


def test_an_unknown_entity_cannot_be_renamed_or_valued() -> None:
    for prepared in (
        P("EntityRenamed", {"entity_id": "openai", "name": "OpenAI"}),
        P("ValuationReported", {"entity_id": "openai", "valuation_usd": "1", "basis": "estimate"}),
    ):
        error = refusal([], prepared, Facts("entity/openai"))
        assert error.field == "data.entity_id" and "unknown entity" in error.reason
        assert decide([registration("openai")], prepared, Facts("entity/openai")) is None


# -- deals: the entity-existence rule -------------------------------------------------------------


def test_every_party_of_a_deal_must_be_a_known_entity() -> None:
    prepared = announcement(leg(), leg("openai", "oracle", leg="cloud"))
    facts = Facts("deal/nv-oai", known_entities=frozenset({"nvidia", "openai"}))
    error = refusal([], prepared, facts)
    assert (error.field, error.reason) == ("data.legs[1].payee", "unknown entity 'oracle'")
    known = Facts("deal/nv-oai", known_entities=frozenset({"nvidia", "openai", "oracle"}))
    assert decide([], prepared, known) is None


def test_the_parties_are_the_payers_and_payees_of_the_legs() -> None:
    prepared = announcement(leg(), leg("openai", "oracle", leg="cloud"))
    assert parties(prepared.data) == {"nvidia", "openai", "oracle"}
    assert parties({"entity_id": "openai", "name": "OpenAI"}) == frozenset()


def test_an_entity_exists_while_its_registration_stands() -> None:
    nvidia, openai = registration("nvidia"), registration("openai")
    withdrawn = E(
        "EventRetracted",
        {"target_event_id": str(openai.event_id), "reason": "duplicate"},
        stream="entity/openai",
    )
    renamed = E("EntityRenamed", {"entity_id": "oracle", "name": "Oracle"}, stream="entity/oracle")
    found = [nvidia, openai, withdrawn, renamed]
    assert known_entities(found, ["nvidia", "openai", "oracle", "ghost"]) == {"nvidia"}
    assert known_entities(found[:2], ["nvidia", "openai"]) == {"nvidia", "openai"}
    # what the existence read fetches is enough to know it
    assert {"EntityRegistered", "EventRetracted"} == set(EXISTENCE_TYPES)


def test_a_deal_is_announced_once_and_a_terminated_one_stays_so() -> None:
    announced = E("DealAnnounced", announcement().data, stream="deal/nv-oai")
    facts = Facts("deal/nv-oai", known_entities=frozenset({"nvidia", "openai"}))
    assert "already exists" in refusal([announced], announcement(), facts).reason
    ended = E("DealTerminated", {"deal_id": "nv-oai", "reason": "off"}, stream="deal/nv-oai")
    tranche = P("TrancheFunded", {"deal_id": "nv-oai", "leg": "equity", "amount_usd": "1"})
    assert "terminated" in refusal([announced, ended], tranche, facts).reason


# -- the retraction rule ----------------------------------------------------------------------


def retraction(target: uuid.UUID) -> P:
    return P("EventRetracted", {"target_event_id": str(target), "reason": "misread"})


def test_a_retraction_names_an_event_the_ledger_holds() -> None:
    error = refusal([], retraction(uuid.uuid4()), Facts(None))
    assert error.field == "data.target_event_id" and "unknown event" in error.reason


def test_a_retraction_of_a_live_event_goes_beside_it() -> None:
    valuation = E("ValuationReported", {"entity_id": "openai"})
    facts = Facts("entity/openai", retraction_target=Located(valuation.type, valuation.stream))
    assert (
        decide([registration("openai"), valuation], retraction(valuation.event_id), facts) is None
    )


def test_a_retraction_belongs_in_the_stream_of_its_target() -> None:
    facts = Facts("entity/nvidia", retraction_target=Located("ValuationReported", "entity/openai"))
    target = uuid.uuid4()
    error = refusal([], retraction(target), facts)
    assert error.field == "data.target_event_id"
    assert error.reason == (
        f"event {target} is in entity/openai; its retraction belongs there, not in entity/nvidia"
    )


def test_a_retraction_is_neither_repeated_nor_retracted() -> None:
    valuation = E("ValuationReported", {"entity_id": "openai"})
    first = E("EventRetracted", retraction(valuation.event_id).data)
    at_target = Facts("entity/openai", retraction_target=Located(valuation.type, valuation.stream))
    history = [registration("openai"), valuation, first]
    assert "already retracted" in refusal(history, retraction(valuation.event_id), at_target).reason
    at_retraction = Facts("entity/openai", retraction_target=Located(first.type, first.stream))
    assert (
        "cannot be retracted" in refusal(history, retraction(first.event_id), at_retraction).reason
    )


def test_a_pending_event_of_the_same_batch_may_be_retracted() -> None:
    # The importer decides line by line: the history holds the stream's lines so far.
    pending = P("ValuationReported", {"entity_id": "openai"})
    facts = Facts("entity/openai", retraction_target=Located(pending.type, "entity/openai"))
    assert decide([registration("openai"), pending], retraction(uuid.uuid4()), facts) is None


# -- command values ---------------------------------------------------------------------------


def test_every_command_names_its_event_type_and_stream() -> None:
    assert {c.type for c in COMMANDS} == {
        "EntityRegistered",
        "EntityRenamed",
        "ValuationReported",
        "RevenueReported",
        "DealAnnounced",
        "DealAmended",
        "TrancheFunded",
        "DealTerminated",
        "EventRetracted",
    }
    register = RegisterEntity(entity_id="openai", name="OpenAI", kind="company", envelope=ENVELOPE)
    fund = FundTranche(deal_id="nv-oai", leg="equity", amount_usd=Decimal(1), envelope=ENVELOPE)
    retract = RetractEvent(target_event_id=uuid.uuid4(), reason="r", envelope=ENVELOPE)
    assert (register.stream, fund.stream, retract.stream) == ("entity/openai", "deal/nv-oai", None)
    with pytest.raises(FrozenInstanceError):
        register.name = "Other"  # type: ignore[misc]


def test_a_commands_data_leaves_out_what_was_not_given() -> None:
    register = RegisterEntity(
        entity_id="openai", name="OpenAI", kind="company", ticker="", envelope=ENVELOPE
    )
    assert register.data() == {"entity_id": "openai", "name": "OpenAI", "kind": "company"}
    valuation = ReportValuation(
        entity_id="openai", valuation_usd=Decimal("5E+11"), basis="estimate", envelope=ENVELOPE
    )
    assert valuation.data() == {
        "entity_id": "openai",
        "valuation_usd": Decimal("5E+11"),
        "basis": "estimate",
    }
    revenue = ReportRevenue(
        entity_id="openai",
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 6, 30),
        revenue_usd=Decimal(1),
        forecast=False,
        cash_usd=Decimal(0),
        envelope=ENVELOPE,
    )
    assert set(revenue.data()) == {
        "entity_id",
        "period_start",
        "period_end",
        "revenue_usd",
        "forecast",
        "cash_usd",
    }
    deal = AnnounceDeal(
        deal_id="nv-oai", title="t", legs=(leg(),), conditions="", envelope=ENVELOPE
    )
    assert deal.data() == {"deal_id": "nv-oai", "title": "t", "legs": [leg()]}


def test_a_command_with_decimals_and_dates_prepares_to_canonical_text() -> None:
    # The domain takes amounts and dates as Python values: no edge formats them.
    command = AnnounceDeal(
        deal_id="nv-oai",
        title="t",
        legs=[leg(headline_usd=Decimal("1.50E+3"), term_start=dt.date(2025, 10, 1))],
        envelope=ENVELOPE,
    )
    event = NewEvent(type=command.type, data=command.data(), effective_at=T0, source=SOURCE)
    prepared = prepare_one(event, "", 64 * 1024)
    [recorded_leg] = prepared.data["legs"]
    assert recorded_leg["headline_usd"] == "1500" and recorded_leg["term_start"] == "2025-10-01"
    retract = RetractEvent(target_event_id=uuid.UUID(int=1), reason="r", envelope=ENVELOPE)
    assert retract.data()["target_event_id"] == "00000000-0000-0000-0000-000000000001"


def test_a_prepared_commands_errors_name_its_fields_without_a_batch_index() -> None:
    event = NewEvent(
        type="EntityRenamed",
        data={"entity_id": "Not A Slug", "name": "x"},
        effective_at=T0,
        source=SOURCE,
    )
    with pytest.raises(ValidationError) as info:
        prepare_one(event, "", 64 * 1024)
    assert info.value.field == "data.entity_id"
    late = NewEvent(
        type="EntityRenamed", data={"entity_id": "a", "name": "x"}, effective_at=None, source=SOURCE
    )
    with pytest.raises(ValidationError) as info:
        prepare_one(late, "", 64 * 1024)
    assert info.value.field == "effective_at"
