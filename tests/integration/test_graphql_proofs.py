"""The proof fields of SPEC section 5 in GraphQL: their answers are documents the offline
verifier accepts, and bad arguments are refused naming the field."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from api.graphql.context import Context
from api.graphql.schema import build_schema
from ledger.domain.checkpoint import SigningKey, VerifierKey, open_checkpoint
from ledger.domain.proofs import parse_proof
from ledger.projections.projector import Projector
from ledger.runtime import Ledger
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.factories import registered, valuation

SCHEMA = build_schema()
KEY = SigningKey.generate("ledger.test/graphql")


def ask(database: TestDatabase, store: EventStore, query: str) -> Any:
    ledger = Ledger(
        settings=None,  # type: ignore[arg-type]
        owner_engine=database.owner_engine,
        engine=database.app_engine,
        store=store,
        signing_key=KEY,
    )
    context = Context(ledger=ledger, now=dt.datetime.now(dt.UTC))
    return asyncio.run(SCHEMA.execute(query, context_value=context))


def test_checkpoints_and_proofs_verify_offline(database: TestDatabase, store: EventStore) -> None:
    projector = Projector(database.app_engine, store, signing_key=KEY)
    store.append("entity/a", [registered("a"), valuation("1", "a"), valuation("2", "a")])
    projector.run_once()
    store.append("entity/b", [registered("b"), valuation("3", "b")])
    projector.run_once()
    answer = ask(
        database,
        store,
        """{ kept: ledgerCheckpoint(treeSize: 3) { treeSize rootHash note publicKey }
             latest: ledgerCheckpoint { treeSize note }
             none: ledgerCheckpoint(treeSize: 4) { treeSize }
             inclusionProof(position: 2) { leafIndex treeSize leafHash hashes }
             consistencyProof(fromSize: 3) { fromSize toSize hashes }
             empty: consistencyProof(fromSize: 5, toSize: 5) { hashes } }""",
    )
    assert answer.errors is None, answer.errors
    data = answer.data
    key = VerifierKey.parse(data["kept"]["publicKey"])
    kept = open_checkpoint(data["kept"]["note"], key)
    latest = open_checkpoint(data["latest"]["note"], key)
    assert (kept.tree_size, kept.root_hash.hex()) == (3, data["kept"]["rootHash"])
    assert data["none"] is None and data["empty"]["hashes"] == []
    inclusion = parse_proof(json.dumps({"inclusionProof": data["inclusionProof"]}))
    inclusion.verify(latest, [e.hash for e in store.iter_events()][1])
    consistency = parse_proof(json.dumps({"consistencyProof": data["consistencyProof"]}))
    consistency.verify(kept, latest)


def test_bad_arguments_are_refused_naming_the_field(
    database: TestDatabase, store: EventStore
) -> None:
    store.append("entity/a", [registered("a")])
    Projector(database.app_engine, store, signing_key=KEY).run_once()
    for query, field in (
        ("{ consistencyProof(fromSize: 0) { hashes } }", "fromSize"),
        ("{ inclusionProof(position: 2) { hashes } }", "position"),
        ("{ inclusionProof(position: 1, treeSize: 9) { hashes } }", "treeSize"),
        ("{ ledgerCheckpoint(treeSize: -1) { note } }", "treeSize"),
    ):
        answer = ask(database, store, query)
        assert answer.errors, query
        assert answer.errors[0].extensions["field"] == field, (query, answer.errors)
