"""Tampering by a superuser who switches the guards off is still caught by the hash chain."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.domain.chain import Digest
from ledger.store import EventStore
from ledger.store.verify import verify
from tests.conftest import TestDatabase
from tests.factories import registered, valuation

TRIGGERS = ("events_no_update_or_delete", "events_no_truncate", "events_chain_check")


def tamper(database: TestDatabase, *statements: str) -> None:
    """Run ``statements`` as the superuser with the table's triggers disabled, then restore them."""
    with database.owner_engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        for sql in statements:
            conn.execute(text(sql))
        for trigger in TRIGGERS:
            conn.execute(text(f"ALTER TABLE events ENABLE ALWAYS TRIGGER {trigger}"))


@pytest.fixture
def ledger_of_six(store: EventStore) -> EventStore:
    store.append("entity/openai", [registered(), valuation("157000000000")])
    store.append("entity/nvidia", [registered("nvidia")])
    store.append("entity/openai", [valuation("300000000000"), valuation("500000000000")])
    store.append("entity/amd", [registered("amd")])
    return store


def test_an_untouched_ledger_verifies(ledger_of_six: EventStore) -> None:
    report = verify(ledger_of_six)
    assert report.ok and report.checked == 6
    assert report.head == ledger_of_six.head().digest


def test_an_edited_field_is_caught_at_its_position(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    tamper(
        database,
        "UPDATE events SET data = jsonb_set(data, '{valuation_usd}', '\"900000000000\"') "
        "WHERE position = 4",
    )
    report = verify(ledger_of_six)
    assert not report.ok and report.broken.position == 4
    assert "content was changed" in report.broken.reason
    assert report.checked == 3


def test_an_edited_timestamp_is_caught(ledger_of_six: EventStore, database: TestDatabase) -> None:
    tamper(
        database,
        "UPDATE events SET effective_at = effective_at - interval '1 day' WHERE position = 2",
    )
    assert verify(ledger_of_six).broken.position == 2


def test_a_deleted_event_is_caught_at_its_position(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    tamper(database, "DELETE FROM events WHERE position = 3")
    report = verify(ledger_of_six)
    assert report.broken.position == 3 and "missing" in report.broken.reason


def test_a_deleted_head_is_caught_by_the_auditors_digest(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    kept = ledger_of_six.head().digest
    tamper(database, "DELETE FROM events WHERE position = 6")
    report = verify(ledger_of_six, kept)
    assert report.broken is None  # what is left still chains ...
    assert report.digest_found is False and not report.ok  # ... but the digest is gone


def test_two_swapped_events_are_caught_at_the_first(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    tamper(
        database,
        "UPDATE events SET position = 1000 WHERE position = 2",
        "UPDATE events SET position = 2 WHERE position = 5",
        "UPDATE events SET position = 5 WHERE position = 1000",
    )
    assert verify(ledger_of_six).broken.position == 2


def test_a_recomputed_hash_is_caught_by_the_next_link(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    from ledger.domain.chain import CHAIN_FIELDS, chain_hash

    original = ledger_of_six.read(after=3, limit=1)[0]
    forged = {f: getattr(original, f) for f in CHAIN_FIELDS}
    forged["data"] = {**original.data, "valuation_usd": "1"}
    new_hash = chain_hash(**forged)
    tamper(
        database,
        "UPDATE events SET data = jsonb_set(data, '{valuation_usd}', '\"1\"'), "
        f"hash = '{new_hash}' WHERE position = 4",
    )
    report = verify(ledger_of_six)
    assert report.broken.position == 5 and "prev_hash" in report.broken.reason


def test_an_earlier_digest_is_proven_present(ledger_of_six: EventStore) -> None:
    earlier = ledger_of_six.read(after=2, limit=1)[0]
    ledger_of_six.append("entity/openai", [valuation("1")])
    report = verify(ledger_of_six, Digest(earlier.position, earlier.hash))
    assert report.ok and report.digest_found


def test_a_digest_with_another_hash_is_not_present(ledger_of_six: EventStore) -> None:
    report = verify(ledger_of_six, Digest(3, "f" * 64))
    assert report.broken is None and report.digest_found is False and not report.ok


def test_a_digest_beyond_the_head_is_not_present(ledger_of_six: EventStore) -> None:
    report = verify(ledger_of_six, Digest(99, "f" * 64))
    assert report.digest_found is False


def test_the_genesis_digest_is_in_every_ledger(ledger_of_six: EventStore) -> None:
    assert verify(ledger_of_six, Digest.parse("0:" + "0" * 64)).ok


def test_a_digest_before_a_tampered_event_no_longer_proves_the_rest(
    ledger_of_six: EventStore, database: TestDatabase
) -> None:
    kept = ledger_of_six.head().digest
    tamper(database, 'UPDATE events SET source = \'{"title": "forged"}\' WHERE position = 2')
    report = verify(ledger_of_six, kept)
    assert report.broken.position == 2 and report.digest_found is False
