"""Commands load a stream, decide, and append at the version they decided on."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from ledger.commands import Commands
from ledger.domain import event_data
from ledger.domain.commands import Envelope, ReportValuation
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


# -- one write path: one read of the facts, one validation ------------------------------------


@contextmanager
def statements(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list]]:
    """The statements a block sends: through SQLAlchemy (the reads) and straight on the
    driver's connection (the append, ``events_append``)."""
    seen: dict[str, list] = {"sqlalchemy": [], "driver": []}
    active = True

    def through_sqlalchemy(conn, cursor, statement, parameters, context, executemany) -> None:
        if active:
            seen["sqlalchemy"].append(statement)

    execute = psycopg.Connection.execute

    def on_the_driver(self, query, *args, **kwargs):
        if active:
            seen["driver"].append(str(query))
        return execute(self, query, *args, **kwargs)

    event.listen(store.engine, "before_cursor_execute", through_sqlalchemy)
    monkeypatch.setattr(psycopg.Connection, "execute", on_the_driver)
    try:
        yield seen
    finally:
        active = False
        event.remove(store.engine, "before_cursor_execute", through_sqlalchemy)


def test_a_deal_with_many_parties_reads_its_facts_in_one_statement(
    commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["nvidia", "openai", "oracle"] + [f"party-{i}" for i in range(5)]
    for entity_id in names[3:]:
        commands.register_entity(
            entity_id=entity_id, name=entity_id, kind="company", effective_at=T0, source=SRC
        )
    for i in range(20):  # long entity streams: only their registrations are read
        commands.report_valuation(
            entity_id="openai",
            valuation_usd=str(i + 1),
            basis="estimate",
            effective_at=T0,
            source=SRC,
        )
    legs = [
        equity_leg(leg=f"l{i}", payer=payer, payee=payee)
        for i, (payer, payee) in enumerate(itertools.pairwise(names))
    ]
    with statements(commands.store, monkeypatch) as seen:
        recorded = announce(commands, legs=legs, event_id=uuid.uuid4())
    [read] = seen["sqlalchemy"]  # the deal's stream, 8 parties' registrations, the retry probe
    assert "FROM events" in read
    [append] = seen["driver"]
    assert "events_append" in append
    assert recorded.stream_version == 1 and len(recorded.data["legs"]) == 7


def test_a_retraction_reads_its_target_and_the_targets_stream_in_one_statement(
    commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    valuation = commands.report_valuation(
        entity_id="openai", valuation_usd="1", basis="estimate", effective_at=T0, source=SRC
    )
    with statements(commands.store, monkeypatch) as seen:
        retraction = commands.retract_event(
            target_event_id=valuation.event_id, reason="typo", effective_at=T0, source=SRC
        )
    assert len(seen["sqlalchemy"]) == 1 and len(seen["driver"]) == 1
    assert (retraction.stream, retraction.stream_version) == ("entity/openai", 3)


def test_a_commands_event_is_validated_once(
    commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = event_data.validate_data

    def counted(type: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(type)
        return original(type, *args, **kwargs)

    # Wherever a module holds the function (``from .event_data import validate_data``).
    for module in list(sys.modules.values()):
        if (
            module.__name__.startswith("ledger")
            and getattr(module, "validate_data", None) is original
        ):
            monkeypatch.setattr(module, "validate_data", counted)
    announce(commands)
    assert calls == ["DealAnnounced"]
    commands.fund_tranche(
        deal_id="nvidia-openai", leg="equity", amount_usd="1", effective_at=T0, source=SRC
    )
    assert calls == ["DealAnnounced", "TrancheFunded"]


def test_a_command_value_is_handled_as_its_keywords_are(commands: Commands) -> None:
    envelope = Envelope(effective_at=T0, source=SRC, metadata={"actor": "analyst"})
    recorded = commands.handle(
        ReportValuation(
            entity_id="openai",
            valuation_usd=Decimal("500000000000.00"),
            basis="secondary_sale",
            envelope=envelope,
        )
    )
    assert recorded.stream == "entity/openai"
    assert recorded.data["valuation_usd"] == "500000000000"
    assert recorded.metadata == {"actor": "analyst"}
    with pytest.raises(ValidationError) as info:
        commands.handle(
            ReportValuation(entity_id="ghost", valuation_usd=1, basis="estimate", envelope=envelope)
        )
    assert info.value.field == "data.entity_id"
