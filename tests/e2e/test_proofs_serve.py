"""A running service signs a checkpoint as soon as it projects an append, and publishes its
keys at /.well-known/ledger-key (the current key first, then the retired ones)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg

from ledger.domain.checkpoint import SigningKey, VerifierKey, open_checkpoint
from ledger.signing import write_key_file
from ledger.store import EventStore
from ledger.store.checkpoints import CHANNEL
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.factories import registered, valuation

ORIGIN = "ledger.test/serve"


def test_the_service_signs_each_append_and_publishes_its_keys(
    database: TestDatabase, store: EventStore, tmp_path: Path
) -> None:
    key, retired = SigningKey.generate(ORIGIN), SigningKey.generate(ORIGIN).verifier
    path = tmp_path / "checkpoint.key"
    write_key_file(path, key)
    with path.open("a") as file:  # a rotated key: the old one's vkey stays published
        file.write(retired.encode() + "\n")
    env = clean_env(
        LEDGER_DATABASE_URL=database.libpq_url,
        LEDGER_CHECKPOINT_KEY_FILE=str(path),
        LEDGER_ORIGIN=ORIGIN,
    )
    with Server(env) as server, psycopg.connect(database.libpq_url, autocommit=True) as conn:
        published = httpx.get(f"{server.url}/.well-known/ledger-key")
        assert published.status_code == 200
        assert published.headers["content-type"].startswith("text/plain")
        assert published.text.splitlines() == [key.verifier.encode(), retired.encode()]
        conn.execute(f"LISTEN {CHANNEL}")
        store.append("entity/a", [registered("a"), valuation("1", "a")])
        # (the empty tree's checkpoint, signed at start, may be announced first)
        signed = None
        for notice in conn.notifies(timeout=30):
            if notice.payload != "0":
                signed = notice.payload
                break
        assert signed == "2"
        answer = httpx.post(
            f"{server.url}/graphql", json={"query": "{ ledgerCheckpoint { note publicKey } }"}
        ).json()["data"]["ledgerCheckpoint"]
        vkey = VerifierKey.parse(published.text.splitlines()[0])
        assert answer["publicKey"] == vkey.encode()
        assert open_checkpoint(answer["note"], vkey).tree_size == 2


def test_a_ledger_without_a_key_publishes_none(database: TestDatabase) -> None:
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as server:
        assert httpx.get(f"{server.url}/.well-known/ledger-key").status_code == 404
