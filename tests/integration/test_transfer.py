"""Import, export and restore against a real PostgreSQL: all or nothing, identical round trips."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import orjson
import pytest
from sqlalchemy import text

from ledger.domain.chain import GENESIS_HASH
from ledger.store import EventStore
from ledger.store.verify import verify
from ledger.transfer.exporter import export_lines
from ledger.transfer.importer import import_lines
from ledger.transfer.restore import RestoreRefused, restore_lines
from tests.conftest import TestDatabase

SOURCE = {"url": "https://example.com/report"}


def line(type: str, data: dict, effective_at: str = "2025-09-22", **extra: object) -> bytes:
    return orjson.dumps(
        {"type": type, "effective_at": effective_at, "data": data, "source": SOURCE, **extra}
    )


def entity(entity_id: str, **extra: object) -> bytes:
    data = {"entity_id": entity_id, "name": entity_id.title(), "kind": "company"}
    return line("EntityRegistered", data, "2015-12-11", **extra)


def deal(deal_id: str, payer: str = "nvidia", payee: str = "openai", **extra: object) -> bytes:
    legs = [
        {"leg": "l0", "payer": payer, "payee": payee, "instrument": "equity", "headline_usd": "10"}
    ]
    return line("DealAnnounced", {"deal_id": deal_id, "title": deal_id, "legs": legs}, **extra)


def fixed_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def test_import_writes_every_stream_and_reports_positions(store: EventStore) -> None:
    report = import_lines(
        store, [entity("nvidia"), entity("openai"), deal("nvidia-openai-2025-09")]
    )
    assert report.ok and report.written == 3 and report.streams_written == 3
    assert (report.first_position, report.last_position) == (1, 3)
    assert store.read_stream("deal/nvidia-openai-2025-09")[0].data["legs"][0]["payer"] == "nvidia"


def test_a_deal_may_name_an_entity_registered_further_down_the_file(store: EventStore) -> None:
    report = import_lines(
        store, [deal("nvidia-openai-2025-09"), entity("nvidia"), entity("openai")]
    )
    assert report.ok, report.refused
    assert store.head().position == 3


def test_a_bad_line_refuses_its_whole_stream_and_names_line_and_field(store: EventStore) -> None:
    amend = line(
        "DealAmended",
        {
            "deal_id": "nvidia-ghost-2025-09",
            "reason": "r",
            "legs": [{"leg": "l0", "payer": "nvidia", "payee": "openai", "instrument": "equity"}],
        },
        "2025-09-23",
    )
    lines = [
        entity("nvidia"),
        entity("openai"),
        deal("nvidia-ghost-2025-09", payee="ghost"),
        amend,
        b"{not json",
        line(
            "ValuationReported", {"entity_id": "openai", "valuation_usd": "-1", "basis": "estimate"}
        ),
    ]
    report = import_lines(store, lines)
    refused = {r.number: r.reason for r in report.refused}
    assert refused[3] == "data.legs[0].payee: unknown entity 'ghost'"
    assert refused[4].startswith("not written: line 3 of the same stream")
    assert refused[5].startswith("line: is not valid JSON")
    assert refused[6].startswith("data.valuation_usd:")
    assert refused[2].startswith("not written: line 6 of the same stream (entity/openai)")
    # nothing of a refused stream is written; the good one is
    assert [e.stream for e in store.read(after=0)] == ["entity/nvidia"]


def test_reimporting_a_file_with_event_ids_writes_nothing(store: EventStore) -> None:
    lines = [entity("nvidia", event_id=fixed_id("n")), entity("openai", event_id=fixed_id("o"))]
    assert import_lines(store, lines).written == 2
    again = import_lines(store, lines)
    assert again.ok and again.written == 0 and again.already_recorded == 2
    assert store.head().position == 2


def test_a_known_event_id_with_other_content_is_refused(store: EventStore) -> None:
    import_lines(store, [entity("nvidia", event_id=fixed_id("n"))])
    changed = line(
        "EntityRegistered",
        {"entity_id": "nvidia", "name": "NVIDIA Corp", "kind": "company"},
        "2015-12-11",
        event_id=fixed_id("n"),
    )
    report = import_lines(store, [changed])
    assert (
        "already recorded (position 1, entity/nvidia) with other content"
        in report.refused[0].reason
    )


def test_a_retraction_in_the_file_undoes_an_event_of_the_same_file(store: EventStore) -> None:
    target = fixed_id("valuation")
    lines = [
        entity("openai"),
        line(
            "ValuationReported",
            {"entity_id": "openai", "valuation_usd": "1", "basis": "estimate"},
            event_id=target,
        ),
        line(
            "EventRetracted",
            {"target_event_id": target, "reason": "typo"},
            stream="entity/openai",
        ),
    ]
    report = import_lines(store, lines)
    assert report.ok, report.refused
    assert [e.type for e in store.read_stream("entity/openai")][-1] == "EventRetracted"


def _export(store: EventStore, **bounds: object) -> list[bytes]:
    return list(export_lines(store, **bounds))


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    import_lines(store, [entity("nvidia"), entity("openai")])
    import_lines(
        store, [deal("nvidia-openai-2025-09"), deal("openai-nvidia-2025-09", "openai", "nvidia")]
    )
    return store


def test_export_writes_every_recorded_field(filled: EventStore) -> None:
    lines = _export(filled)
    first = orjson.loads(lines[0])
    assert len(lines) == 4 and first["position"] == 1 and first["prev_hash"] == GENESIS_HASH
    assert set(first) >= {"stream_version", "recorded_at", "hash", "event_id", "metadata"}


def test_export_takes_a_position_range_and_a_time_range(filled: EventStore) -> None:
    assert [
        orjson.loads(x)["position"] for x in _export(filled, from_position=2, to_position=3)
    ] == [2, 3]
    third = filled.read(after=2, limit=1)[0].recorded_at
    by_time = _export(filled, recorded_from=third)
    assert [orjson.loads(x)["position"] for x in by_time] == [3, 4]  # one append each
    assert _export(filled, recorded_to=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) == []


def test_restore_gives_an_identical_ledger(
    filled: EventStore, second_database: TestDatabase
) -> None:
    target = second_database
    digest = restore_lines(target.owner_engine, _export(filled))
    restored = EventStore(target.app_engine)
    assert digest == filled.head().digest == restored.head().digest
    assert restored.read(after=0) == filled.read(after=0)
    assert verify(restored).ok
    # and the restored ledger goes on: the next append chains onto the restored head
    import_lines(restored, [entity("amd")])
    assert verify(restored).ok and restored.head().position == 5


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: e["data"].update(name="Nvidia Inc"),
        lambda e: e.update(recorded_at="2020-01-01T00:00:00Z"),
        lambda e: e.update(hash="0" * 64),
    ],
    ids=["edited-data", "edited-recorded-at", "edited-hash"],
)
def test_restore_refuses_a_file_whose_chain_breaks_and_writes_nothing(
    filled: EventStore, second_database: TestDatabase, tamper
) -> None:
    events = [orjson.loads(x) for x in _export(filled)]
    tamper(events[0])
    with pytest.raises(RestoreRefused, match="line 1: the file's hash chain does not verify"):
        restore_lines(second_database.owner_engine, [orjson.dumps(e) for e in events])
    assert EventStore(second_database.app_engine).head().position == 0


def test_restore_refuses_a_missing_line(filled: EventStore, second_database: TestDatabase) -> None:
    lines = _export(filled)
    del lines[1]
    with pytest.raises(RestoreRefused, match="position 2 is missing"):
        restore_lines(second_database.owner_engine, lines)
    assert EventStore(second_database.app_engine).head().position == 0


def test_restore_refuses_a_ledger_that_is_not_empty(
    filled: EventStore, database: TestDatabase
) -> None:
    with pytest.raises(RestoreRefused, match="needs an empty ledger; this one holds 4 events"):
        restore_lines(database.owner_engine, _export(filled))


def test_restore_needs_the_owner_role(filled: EventStore, second_database: TestDatabase) -> None:
    with pytest.raises(RestoreRefused, match="needs the role that owns the events table"):
        restore_lines(second_database.app_engine, _export(filled))
    with second_database.owner_engine.connect() as conn:
        enabled = conn.execute(
            text("SELECT tgenabled FROM pg_trigger WHERE tgname = 'events_chain_check'")
        ).scalar_one()
    assert enabled == "A"  # ALWAYS: the trigger is on after a refused restore


def test_import_reads_a_file_object(store: EventStore) -> None:
    report = import_lines(store, io.BytesIO(entity("nvidia") + b"\n\n" + entity("openai") + b"\n"))
    assert report.ok and report.lines == 2 and report.written == 2
