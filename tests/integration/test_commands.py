"""Commands load a stream, decide, and append at the version they decided on."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ledger.commands import Commands
from ledger.domain.errors import ValidationError, VersionConflict
from ledger.store import EventStore

T0 = dt.datetime(2025, 9, 22, tzinfo=dt.UTC)
SRC = {"url": "https://example.com/nvidia-openai", "title": "Nvidia and OpenAI letter of intent"}


@pytest.fixture
def commands(store: EventStore) -> Commands:
    c = Commands(store)
    for entity_id in ("nvidia", "openai", "oracle"):
        c.register_entity(
            entity_id=entity_id,
            name=entity_id.title(),
            kind="company",
            effective_at=T0,
            source=SRC,
        )
    return c


def equity_leg(**overrides: Any) -> dict[str, Any]:
    return {
        "leg": "equity",
        "payer": "nvidia",
        "payee": "openai",
        "instrument": "equity",
        "headline_usd": "100000000000",
        "committed_usd": "10000000000",
    } | overrides


def announce(commands: Commands, **overrides: Any):
    fields = {
        "deal_id": "nvidia-openai",
        "title": "Nvidia to invest up to $100B in OpenAI",
        "legs": [equity_leg()],
        "effective_at": T0,
        "source": SRC,
    } | overrides
    return commands.announce_deal(**fields)


def test_a_registered_entity_is_recorded_in_its_stream(commands: Commands) -> None:
    [event] = commands.store.read_stream("entity/openai")
    assert event.type == "EntityRegistered" and event.data["name"] == "Openai"


def test_registering_an_existing_entity_is_refused_and_writes_nothing(commands: Commands) -> None:
    head = commands.store.head()
    with pytest.raises(ValidationError) as info:
        commands.register_entity(
            entity_id="openai", name="OpenAI", kind="company", effective_at=T0, source=SRC
        )
    assert info.value.field == "data.entity_id"
    assert commands.store.head() == head


def test_a_deal_with_an_unknown_party_is_refused(commands: Commands) -> None:
    with pytest.raises(ValidationError) as info:
        announce(commands, legs=[equity_leg(payee="anthropic")])
    assert info.value.field == "data.legs[0].payee"
    assert commands.store.stream_version("deal/nvidia-openai") == 0


def test_tranches_are_limited_by_what_is_left_of_the_leg(commands: Commands) -> None:
    announce(commands)
    commands.fund_tranche(
        deal_id="nvidia-openai",
        leg="equity",
        amount_usd="10000000000",
        effective_at=T0 + dt.timedelta(days=30),
        source=SRC,
    )
    with pytest.raises(ValidationError) as info:
        commands.fund_tranche(
            deal_id="nvidia-openai",
            leg="equity",
            amount_usd="1",
            effective_at=T0 + dt.timedelta(days=31),
            source=SRC,
        )
    assert info.value.field == "data.amount_usd"


def test_a_terminated_deal_refuses_further_changes(commands: Commands) -> None:
    announce(commands)
    commands.terminate_deal(
        deal_id="nvidia-openai", reason="called off", effective_at=T0, source=SRC
    )
    with pytest.raises(ValidationError, match="terminated"):
        commands.amend_deal(
            deal_id="nvidia-openai", legs=[equity_leg()], reason="r", effective_at=T0, source=SRC
        )


def test_a_retraction_goes_into_the_target_stream_and_cannot_be_repeated(
    commands: Commands,
) -> None:
    valuation = commands.report_valuation(
        entity_id="openai",
        valuation_usd="500000000000",
        basis="secondary_sale",
        effective_at=T0,
        source=SRC,
    )
    retraction = commands.retract_event(
        target_event_id=valuation.event_id, reason="misread", effective_at=T0, source=SRC
    )
    assert retraction.stream == "entity/openai"
    with pytest.raises(ValidationError, match="already retracted"):
        commands.retract_event(
            target_event_id=valuation.event_id, reason="again", effective_at=T0, source=SRC
        )
    with pytest.raises(ValidationError, match="cannot be retracted"):
        commands.retract_event(
            target_event_id=retraction.event_id, reason="undo", effective_at=T0, source=SRC
        )
    with pytest.raises(ValidationError, match="unknown event"):
        commands.retract_event(
            target_event_id=uuid.uuid4(), reason="ghost", effective_at=T0, source=SRC
        )


def test_a_repeated_command_with_the_same_event_id_returns_the_original(
    commands: Commands,
) -> None:
    event_id = uuid.uuid4()
    first = announce(commands, event_id=event_id)
    again = announce(commands, event_id=event_id)
    assert again == first
    assert commands.store.stream_version("deal/nvidia-openai") == 1


def test_a_stale_expected_version_is_a_conflict(commands: Commands) -> None:
    announce(commands)
    with pytest.raises(VersionConflict) as info:
        commands.terminate_deal(
            deal_id="nvidia-openai", reason="r", effective_at=T0, source=SRC, expected_version=0
        )
    assert info.value.current == 1


def test_concurrent_conflicting_commands_let_one_through_and_the_rest_retry_cleanly(
    commands: Commands,
) -> None:
    # Eight clients fund the same leg at once; the leg holds exactly five tranches of 2B.
    announce(commands)
    barrier = threading.Barrier(8)

    def fund(_: int) -> str:
        barrier.wait()
        while True:
            try:
                commands.fund_tranche(
                    deal_id="nvidia-openai",
                    leg="equity",
                    amount_usd="2000000000",
                    effective_at=T0,
                    source=SRC,
                )
                return "funded"
            except VersionConflict:
                continue  # decide again on the new history
            except ValidationError:
                return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(fund, range(8)))
    assert outcomes == ["funded"] * 5 + ["refused"] * 3
    tranches = [
        e for e in commands.store.read_stream("deal/nvidia-openai") if e.type == "TrancheFunded"
    ]
    assert len(tranches) == 5
