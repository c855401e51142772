"""Immutability is enforced by PostgreSQL itself, not only by the Python code."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.store import EventStore
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import registered, valuation

CHANGES = [
    "UPDATE events SET type = 'EntityRenamed' WHERE position = 1",
    "DELETE FROM events WHERE position = 2",
    "TRUNCATE events",
]


@pytest.fixture
def recorded(store: EventStore) -> EventStore:
    store.append("entity/openai", [registered(), valuation()])
    return store


def _refused(engine, sql: str) -> str:
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(text(sql))
    return str(info.value.orig)


@pytest.mark.parametrize("sql", CHANGES)
def test_the_owner_cannot_change_or_remove_events(
    recorded: EventStore, database: TestDatabase, sql: str
) -> None:
    message = _refused(database.owner_engine, sql)
    assert "immutable" in message
    assert recorded.head().position == 2


@pytest.mark.parametrize("sql", CHANGES)
def test_the_service_role_has_no_privilege_to_change_events(
    recorded: EventStore, database: TestDatabase, sql: str
) -> None:
    message = _refused(database.app_engine, sql)
    assert "permission denied" in message


def test_the_service_role_holds_only_select_and_insert(database: TestDatabase) -> None:
    with database.owner_engine.connect() as conn:
        privileges = {
            p: conn.execute(
                text("SELECT has_table_privilege(:role, 'events', :p)"),
                {"role": APP_ROLE, "p": p},
            ).scalar_one()
            for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
        }
    assert privileges == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
        "REFERENCES": False,
        "TRIGGER": False,
    }


def test_the_service_engine_really_acts_as_the_app_role(database: TestDatabase) -> None:
    with database.app_engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == APP_ROLE


def test_replica_mode_does_not_switch_the_guards_off(
    recorded: EventStore, database: TestDatabase
) -> None:
    with pytest.raises(DBAPIError) as info, database.owner_engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("DELETE FROM events"))
    assert "immutable" in str(info.value.orig)


def _raw_insert(database: TestDatabase, **overrides) -> str:
    """Insert a copy of the head event at the next position, bypassing the store."""
    with psycopg.connect(database.libpq_url) as conn:
        last = conn.execute(
            "SELECT position, stream, stream_version, hash, recorded_at FROM events "
            "ORDER BY position DESC LIMIT 1"
        ).fetchone()
        row = {
            "position": last[0] + 1,
            "stream": last[1],
            "stream_version": last[2] + 1,
            "prev_hash": last[3],
            "recorded_at": "clock_timestamp()",
        }
        row.update(overrides)
        recorded_at = row.pop("recorded_at")
        with pytest.raises(psycopg.Error) as info:
            conn.execute(
                "INSERT INTO events (position, stream, stream_version, event_id, type, "
                "schema_version, data, source, metadata, effective_at, recorded_at, prev_hash, hash) "
                "VALUES (%(position)s, %(stream)s, %(stream_version)s, %(event_id)s, "
                "'ValuationReported', 1, '{}', '{\"title\": \"x\"}', '{}', now(), "
                f"{recorded_at}, %(prev_hash)s, repeat('a', 64))",
                {"event_id": uuid.uuid4(), **row},
            )
        return str(info.value)


def test_an_insert_that_skips_a_position_is_refused(
    recorded: EventStore, database: TestDatabase
) -> None:
    assert "contiguous" in _raw_insert(database, position=4)


def test_an_insert_that_does_not_chain_to_the_head_is_refused(
    recorded: EventStore, database: TestDatabase
) -> None:
    assert "prev_hash" in _raw_insert(database, prev_hash="b" * 64)


def test_an_insert_with_a_client_chosen_recorded_at_is_refused(
    recorded: EventStore, database: TestDatabase
) -> None:
    message = _raw_insert(database, recorded_at="'2020-01-01T00:00:00Z'")
    assert "database clock" in message


def test_an_insert_that_skips_a_stream_version_is_refused(
    recorded: EventStore, database: TestDatabase
) -> None:
    assert "stream_version" in _raw_insert(database, stream_version=9)


def test_an_insert_at_a_taken_position_is_refused(
    recorded: EventStore, database: TestDatabase
) -> None:
    assert "events_pkey" in _raw_insert(database, position=2)


def _raw_insert_two(database: TestDatabase, **second) -> str:
    """Insert two events in one statement: a valid next one, then one with ``second`` overrides.

    The chain check compares rows within a batch with each other, not only with the table.
    """
    with psycopg.connect(database.libpq_url) as conn:
        position, stream, version, head_hash = conn.execute(
            "SELECT position, stream, stream_version, hash FROM events "
            "ORDER BY position DESC LIMIT 1"
        ).fetchone()
        rows = [
            {
                "position": position + 1,
                "stream_version": version + 1,
                "prev_hash": head_hash,
                "recorded_at": "clock_timestamp()",
            },
            {
                "position": position + 2,
                "stream_version": version + 2,
                "prev_hash": "a" * 64,  # the first row's hash
                "recorded_at": "clock_timestamp()",
            }
            | second,
        ]
        values = ", ".join(
            f"(%(position{i})s, %(stream)s, %(stream_version{i})s, %(event_id{i})s, "
            "'ValuationReported', 1, '{}', '{\"title\": \"x\"}', '{}', now(), "
            f"{row['recorded_at']}, %(prev_hash{i})s, repeat('a', 64))"
            for i, row in enumerate(rows)
        )
        params = {"stream": stream}
        for i, row in enumerate(rows):
            params |= {f"{k}{i}": v for k, v in row.items() if k != "recorded_at"}
            params[f"event_id{i}"] = uuid.uuid4()
        with pytest.raises(psycopg.Error) as info:
            conn.execute(
                "INSERT INTO events (position, stream, stream_version, event_id, type, "
                "schema_version, data, source, metadata, effective_at, recorded_at, prev_hash, hash) "
                f"VALUES {values}",
                params,
            )
        return str(info.value)


@pytest.mark.parametrize(
    "second,problem",
    [
        ({"position": 99}, "contiguous"),
        ({"prev_hash": "b" * 64}, "prev_hash must be the hash of position"),
        ({"stream_version": 9}, "stream_version must follow"),
        ({"recorded_at": "transaction_timestamp()"}, "may not go backwards"),
    ],
    ids=["gap", "broken-link", "version-skip", "time-backwards"],
)
def test_a_batch_that_breaks_the_chain_inside_itself_is_refused(
    recorded: EventStore, database: TestDatabase, second: dict, problem: str
) -> None:
    head = recorded.head()
    assert problem in _raw_insert_two(database, **second)
    assert recorded.head() == head


def _insert_rows(database: TestDatabase, rows: list[dict]) -> str | None:
    """Insert ``rows`` after the head in one statement, bypassing the store; each row names
    its stream, stream_version and, optionally, position, prev_hash, hash and recorded_at
    (an SQL expression). Rows chain from the head by default. Returns the refusal, if any."""
    with psycopg.connect(database.libpq_url) as conn:
        position, head_hash = conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        values, params, prev = [], {}, head_hash
        for i, row in enumerate(rows):
            row = {
                "position": position + 1 + i,
                "prev_hash": prev,
                "hash": f"{i + 1:064x}",
                "recorded_at": "clock_timestamp()",
            } | row
            prev = row["hash"]
            values.append(
                f"(%(position{i})s, %(stream{i})s, %(stream_version{i})s, %(event_id{i})s, "
                "'ValuationReported', 1, '{}', '{\"title\": \"x\"}', '{}', now(), "
                f"{row['recorded_at']}, %(prev_hash{i})s, %(hash{i})s)"
            )
            params |= {f"{k}{i}": v for k, v in row.items() if k != "recorded_at"}
            params[f"event_id{i}"] = uuid.uuid4()
        try:
            conn.execute(
                "INSERT INTO events (position, stream, stream_version, event_id, type, "
                "schema_version, data, source, metadata, effective_at, recorded_at, prev_hash, "
                f"hash) VALUES {', '.join(values)}",
                params,
            )
        except psycopg.Error as error:
            return str(error)
        conn.commit()
        return None


def test_a_batch_of_interleaved_streams_that_continues_each_is_accepted(
    recorded: EventStore, database: TestDatabase
) -> None:
    # entity/openai holds versions 1 and 2; entity/anthropic is new.
    refusal = _insert_rows(
        database,
        [
            {"stream": "entity/anthropic", "stream_version": 1},
            {"stream": "entity/openai", "stream_version": 3},
            {"stream": "entity/anthropic", "stream_version": 2},
            {"stream": "entity/openai", "stream_version": 4},
        ],
    )
    assert refusal is None
    assert recorded.head().position == 6


@pytest.mark.parametrize(
    "rows",
    [
        # versions of one stream out of position order, both present
        [
            {"stream": "entity/openai", "stream_version": 4},
            {"stream": "entity/openai", "stream_version": 3},
        ],
        # the same, with another stream between them
        [
            {"stream": "entity/openai", "stream_version": 4},
            {"stream": "entity/anthropic", "stream_version": 1},
            {"stream": "entity/openai", "stream_version": 3},
        ],
        # a version skipped after another stream's row
        [
            {"stream": "entity/anthropic", "stream_version": 1},
            {"stream": "entity/openai", "stream_version": 4},
        ],
        # a second first version of a stream in the batch
        [
            {"stream": "entity/anthropic", "stream_version": 1},
            {"stream": "entity/anthropic", "stream_version": 1},
        ],
    ],
    ids=["backwards", "backwards-interleaved", "skip-after-other-stream", "two-firsts"],
)
def test_a_batch_whose_stream_versions_do_not_follow_in_position_order_is_refused(
    recorded: EventStore, database: TestDatabase, rows: list[dict]
) -> None:
    refusal = _insert_rows(database, rows)
    assert refusal is not None
    assert "stream_version must follow" in refusal or "events_stream_version_key" in refusal
    assert recorded.head().position == 2


@pytest.mark.parametrize(
    "bad",
    ["A" * 64, "a" * 63, "a" * 65, "a" * 63 + "\n", "g" * 64, "a" * 32 + " " + "a" * 31, ""],
    ids=["upper-case", "short", "long", "newline", "not-hex", "space", "empty"],
)
@pytest.mark.parametrize("column", ["hash", "prev_hash"])
def test_a_hash_that_is_not_64_lower_case_hexadecimal_digits_is_refused(
    recorded: EventStore, database: TestDatabase, column: str, bad: str
) -> None:
    refusal = _insert_rows(
        database, [{"stream": "entity/openai", "stream_version": 3, column: bad}]
    )
    assert refusal is not None
    assert f"events_{column}_check" in refusal
    assert recorded.head().position == 2


@pytest.mark.parametrize(
    "stream",
    [
        "entity/",
        "entity/-a",
        "entity/a-",
        "entity/a--b",
        "Entity/a",
        "fund/a",
        "entity/a b",
        "entity/a\n",
        "deal/a/b",
        "entitydeal/a",
    ],
)
def test_a_stream_name_outside_the_pattern_is_refused(
    recorded: EventStore, database: TestDatabase, stream: str
) -> None:
    refusal = _insert_rows(database, [{"stream": stream, "stream_version": 1}])
    assert refusal is not None
    assert "events_stream_check" in refusal
    assert recorded.head().position == 2


@pytest.mark.parametrize("stream", ["deal/a", "entity/0-b-c9", "deal/x1-y2"])
def test_a_stream_name_of_the_pattern_is_accepted(
    recorded: EventStore, database: TestDatabase, stream: str
) -> None:
    assert _insert_rows(database, [{"stream": stream, "stream_version": 1}]) is None
