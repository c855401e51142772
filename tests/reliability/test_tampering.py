"""Tampering: a superuser who disables the guards edits, deletes, inserts, reorders or re-hashes
events, and ``ledger verify`` names the first position where the history is no longer the one
recorded -- every time.

Sizes: ``LEDGER_TEST_RELIABILITY_TAMPERINGS`` random tamperings (CI 15, the issue's 50) of a
synthetic ledger of ``LEDGER_TEST_RELIABILITY_TAMPER_LEDGER`` events (CI 1,000).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, text

from ledger.domain.chain import CHAIN_FIELDS, GENESIS_HASH, chain_hash
from ledger.store import EventStore
from ledger.synth import synth
from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger
from tests.reliability.conftest import size

pytestmark = pytest.mark.reliability

TAMPERINGS = size("TAMPERINGS", 15)
LEDGER_EVENTS = size("TAMPER_LEDGER", 1000)

COLUMNS = (
    "position, stream, stream_version, event_id, type, schema_version, data, source, metadata, "
    "effective_at, recorded_at, prev_hash, hash"
)
TYPES = ("EntityRegistered", "EntityRenamed", "ValuationReported", "RevenueReported")

Statement = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Tampering:
    """What was done, in SQL, and where ``ledger verify`` must say the history breaks: a
    position, or None when what is left still chains and only the auditor's digest of the
    head shows the change (the end of the ledger deleted or re-hashed)."""

    description: str
    statements: list[Statement]
    first_bad: int | None


class Forger:
    """Draws tamperings of a ledger of ``head`` events, reading the original rows it needs."""

    def __init__(self, conn: Connection, rng: random.Random, head: int) -> None:
        self.conn = conn
        self.rng = rng
        self.head = head

    def row(self, position: int) -> dict[str, Any]:
        return dict(
            self.conn.execute(
                text(f"SELECT {COLUMNS} FROM tamper.pristine WHERE position = :p"), {"p": position}
            )
            .mappings()
            .one()
        )

    def hash_before(self, position: int) -> str:
        return GENESIS_HASH if position == 1 else self.row(position - 1)["hash"]

    def position(self) -> int:
        """Any position, with a bias to the head, where only the auditor's digest helps."""
        return self.head if self.rng.random() < 0.15 else self.rng.randint(1, self.head)

    def random_hash(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def forged_id(self) -> uuid.UUID:
        """A new event id, from the seed but never one of the ledger's: ``ledger synth`` draws
        its ids from a generator seeded alike, so raw random bits could repeat one of them."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"forged/{self.rng.getrandbits(128)}")

    def forged_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """One value of ``data`` changed: an amount raised by up to $1M, anything else replaced."""
        key = self.rng.choice(sorted(data))
        value = data[key]
        if isinstance(value, str) and value.isdigit():
            forged = str(int(value) + self.rng.randint(1, 10**6))
        else:
            forged = "forged"
        return {**data, key: forged}

    # -- the kinds of the issue -------------------------------------------------------------

    def edit_a_field(self) -> Tampering:
        p = self.position()
        row = self.row(p)
        field = self.rng.choice(
            [
                "type",
                "stream",
                "stream_version",
                "event_id",
                "schema_version",
                "data",
                "source",
                "metadata",
                "effective_at",
                "recorded_at",
                "prev_hash",
                "hash",
            ]
        )
        micros = self.rng.choice([-1, 1]) * self.rng.randint(1, 10**12)
        new_value: Any = {
            "type": self.rng.choice([t for t in TYPES if t != row["type"]]),
            "stream": f"entity/forged-{self.rng.randrange(10**6)}",
            "stream_version": row["stream_version"] + 10**6 + self.rng.randrange(10**6),
            "event_id": self.forged_id(),
            "schema_version": row["schema_version"] + 1,
            "data": self.forged_data(row["data"]),
            "source": {**row["source"], "note": "forged"},
            "metadata": {**row["metadata"], "actor": "forged"},
            "effective_at": row["effective_at"] + dt.timedelta(microseconds=micros),
            "recorded_at": row["recorded_at"] + dt.timedelta(microseconds=micros),
            "prev_hash": self.random_hash(),
            "hash": self.random_hash(),
        }[field]
        if isinstance(new_value, dict):
            new_value = json.dumps(new_value)
        value = "CAST(:v AS jsonb)" if field in ("data", "source", "metadata") else ":v"
        return Tampering(
            f"edit {field} of {p}",
            [
                (
                    f"UPDATE events SET {field} = {value} WHERE position = :p",
                    {"v": new_value, "p": p},
                )
            ],
            p,
        )

    def delete(self) -> Tampering:
        p = self.position()
        last = min(self.head, p + self.rng.choice([0, 0, 0, 1, 2]))
        return Tampering(
            f"delete {p}..{last}",
            [("DELETE FROM events WHERE position BETWEEN :p AND :q", {"p": p, "q": last})],
            None if last == self.head else p,
        )

    def insert(self) -> Tampering:
        """A forged event at ``p``, the originals from ``p`` on moved up by one. A forger who
        links and hashes it properly (``linked``) gets past ``p``; the moved original then
        no longer follows it."""
        p = self.rng.randint(1, self.head)
        linked = self.rng.random() < 0.5
        model = self.row(self.rng.randint(1, self.head))
        forged = {
            **model,
            "position": p,
            "stream": f"entity/forged-{self.rng.randrange(10**6)}",
            "stream_version": 1,
            "event_id": self.forged_id(),
            "data": self.forged_data(model["data"]),
            "prev_hash": self.hash_before(p),
        }
        forged["hash"] = (
            chain_hash(**{f: forged[f] for f in CHAIN_FIELDS}) if linked else self.random_hash()
        )
        values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in forged.items()}
        placeholders = ", ".join(
            f"CAST(:{c} AS jsonb)" if c in ("data", "source", "metadata") else f":{c}"
            for c in COLUMNS.split(", ")
        )
        return Tampering(
            f"insert {'a linked and hashed' if linked else 'a'} forged event at {p}",
            [
                # two steps, so the primary key never sees two rows at one position
                (
                    "UPDATE events SET position = position + 1000000000 WHERE position >= :p",
                    {"p": p},
                ),
                (
                    "UPDATE events SET position = position - 999999999 WHERE position > 1000000000",
                    {},
                ),
                (f"INSERT INTO events ({COLUMNS}) VALUES ({placeholders})", values),
            ],
            p + 1 if linked else p,
        )

    def reorder(self) -> Tampering:
        p = self.rng.randint(1, self.head - 1)
        q = p + 1 if self.rng.random() < 0.5 else self.rng.randint(p + 1, self.head)
        return Tampering(
            f"swap {p} and {q}",
            [
                # through a free position: the primary key holds one row per position
                ("UPDATE events SET position = 1000000000000 WHERE position = :p", {"p": p}),
                ("UPDATE events SET position = :p WHERE position = :q", {"p": p, "q": q}),
                ("UPDATE events SET position = :q WHERE position = 1000000000000", {"q": q}),
            ],
            p,
        )

    def recompute_one_hash(self) -> Tampering:
        """Edit event ``p`` and give it the hash its new content has: ``p`` itself checks out,
        the next event's link to it does not."""
        p = self.position()
        row = self.row(p)
        row["data"] = self.forged_data(row["data"])
        new_hash = chain_hash(**{f: row[f] for f in CHAIN_FIELDS})
        return Tampering(
            f"edit data of {p} and recompute its hash",
            [
                (
                    "UPDATE events SET data = CAST(:d AS jsonb), hash = :h WHERE position = :p",
                    {"d": json.dumps(row["data"]), "h": new_hash, "p": p},
                )
            ],
            p + 1 if p < self.head else None,
        )

    @property
    def kinds(self) -> list[Callable[[], Tampering]]:
        return [self.edit_a_field, self.delete, self.insert, self.reorder, self.recompute_one_hash]


# -- doing it, and undoing it ----------------------------------------------------------------


class Superuser:
    """The owner (a superuser) on the test's database, with the events table's triggers
    switched off for each tampering and restored exactly as they were afterwards."""

    def __init__(self, database: TestDatabase) -> None:
        self.engine = database.owner_engine
        with self.engine.begin() as conn:
            self.triggers = conn.execute(
                text(
                    "SELECT tgname, tgenabled FROM pg_trigger "
                    "WHERE tgrelid = 'events'::regclass AND NOT tgisinternal"
                )
            ).all()
            assert {state for _, state in self.triggers} == {"A"}, self.triggers  # ALWAYS
            conn.execute(text("CREATE SCHEMA tamper"))
            conn.execute(text("CREATE TABLE tamper.pristine AS SELECT * FROM events"))

    def run(self, statements: list[Statement]) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            for sql, params in statements:
                conn.execute(text(sql), params)
            for name, _ in self.triggers:
                conn.execute(text(f"ALTER TABLE events ENABLE ALWAYS TRIGGER {name}"))

    def restore(self) -> None:
        self.run(
            [
                ("DELETE FROM events", {}),
                ("INSERT INTO events SELECT * FROM tamper.pristine", {}),
            ]
        )
        with self.engine.connect() as conn:
            differing = conn.execute(
                text(
                    "SELECT count(*) FROM ((TABLE events EXCEPT TABLE tamper.pristine) "
                    "UNION ALL (TABLE tamper.pristine EXCEPT TABLE events)) AS d"
                )
            ).scalar_one()
        assert differing == 0, "the ledger was not restored"


@pytest.fixture
def ledger(database: TestDatabase, store: EventStore, seed: int) -> Iterator[EventStore]:
    synth(store, events=LEDGER_EVENTS, entities=max(10, LEDGER_EVENTS // 40), seed=seed)
    yield store


def test_ledger_verify_names_the_first_bad_position_of_every_random_tampering(
    ledger: EventStore, database: TestDatabase, seed: int
) -> None:
    """The auditor keeps the head's digest; then, again and again, a superuser tampers with
    the untouched ledger (each kind of the issue at least once: a field edited, events
    deleted, a forged event inserted, two events swapped, one event re-hashed after an edit).
    ``ledger verify --digest`` must fail every time and name the first bad position as
    docs/event-store.md says -- or, when the rest still chains (the end of the ledger deleted
    or re-hashed), say the auditor's digest is no longer part of the ledger. The untouched
    ledger verifies before and after, so the command does not simply always fail."""
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    kept = ledger.head().digest
    head = kept.position

    def ledger_verify() -> tuple[int, str]:
        result = run_ledger("verify", "--digest", str(kept), env=env)
        return result.returncode, result.stdout + result.stderr

    code, output = ledger_verify()
    assert code == 0 and f"digest {kept} is part of this ledger" in output, output
    superuser = Superuser(database)
    rng = random.Random(seed)
    with database.owner_engine.connect() as conn:
        forger = Forger(conn, rng, head)
        kinds = forger.kinds
        plan = kinds + [rng.choice(kinds) for _ in range(TAMPERINGS - len(kinds))]
        rng.shuffle(plan)
        tamperings = [draw() for draw in plan]

    caught: list[str] = []
    for number, tampering in enumerate(tamperings, 1):
        superuser.run(tampering.statements)
        code, output = ledger_verify()
        what = f"tampering {number} ({tampering.description}):\n{output}"
        assert code == 1, what
        if tampering.first_bad is None:
            assert "chain verified:" in output, what
            assert f"digest {kept} is NOT part of this ledger" in output, what
        else:
            assert f"chain breaks at position {tampering.first_bad}:" in output, what
        said = output.splitlines()[0 if tampering.first_bad else 1]
        caught.append(f"{tampering.description}: {said}")
        superuser.restore()

    assert ledger_verify()[0] == 0, "the restored ledger does not verify"
    by_kind = Counter(draw.__name__ for draw in plan)
    at_the_end = sum(t.first_bad is None for t in tamperings)
    print(
        f"{len(caught)} tamperings of {head} events, all caught ({dict(by_kind)}; "
        f"{at_the_end} left a chain that links and were caught by the digest):\n"
        + "\n".join(caught)
    )
