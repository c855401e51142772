"""Checkpoints issued by the projector and proofs computed from the stored tree: they verify
against the checkpoints with the pure verifier, and what is tampered with is refused by name."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from ledger import queries
from ledger.domain.checkpoint import Checkpoint, SigningKey, open_checkpoint
from ledger.domain.errors import ProofRefused, ValidationError
from ledger.domain.merkle import MemoryTree, event_leaf_hash
from ledger.domain.proofs import ConsistencyProof, InclusionProof, parse_proof
from ledger.projections.projector import Projector
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.factories import registered, valuation

ORIGIN = "ledger.test/proofs"
KEY = SigningKey.generate(ORIGIN)


@pytest.fixture
def projector(database: TestDatabase, store: EventStore) -> Projector:
    return Projector(database.app_engine, store, signing_key=KEY)


def grow(store: EventStore, projector: Projector, entity: str, valuations: int) -> None:
    store.append(
        f"entity/{entity}",
        [registered(entity)] + [valuation(str(10**9 + k), entity) for k in range(valuations)],
    )
    projector.run_once()


def opened(database: TestDatabase, size: int | None = None) -> Checkpoint:
    issued = queries.checkpoint(database.app_engine, size)
    assert issued is not None
    return open_checkpoint(issued.note, KEY.verifier)


def test_each_batch_is_signed_and_every_checkpoint_is_kept(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    assert queries.checkpoint(database.app_engine) is None
    sizes = []
    for i, n in enumerate((0, 2, 4, 1)):
        grow(store, projector, f"e{i}", n)
        sizes.append(store.head().position)
    hashes = [e.hash for e in store.iter_events()]
    reference = MemoryTree(event_leaf_hash(h) for h in hashes)
    for size in sizes:
        checkpoint = opened(database, size)
        assert (checkpoint.origin, checkpoint.tree_size) == (ORIGIN, size)
        assert checkpoint.root_hash == reference.root(size)
    assert opened(database).tree_size == sizes[-1]
    assert queries.checkpoint(database.app_engine, sizes[0] + 1) is None  # none issued there


def test_proofs_at_any_size_up_to_the_latest_verify_and_tampering_is_refused(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    grow(store, projector, "a", 6)
    kept = opened(database)  # an auditor keeps this checkpoint (7 events)
    kept_digest = store.head().digest  # and the digest P:H of the head
    grow(store, projector, "b", 9)
    latest = opened(database)
    engine = database.app_engine
    for position in range(1, latest.tree_size + 1):
        proof = queries.inclusion(engine, position)
        parse_proof(json.dumps(proof.to_json())).verify(latest)  # as a document, too
    # the digest kept before is provable: position P with hash H is in today's tree
    queries.inclusion(engine, kept_digest.position).verify(latest, kept_digest.hash)
    # today's tree extends the kept one
    queries.consistency(engine, kept.tree_size).verify(kept, latest)
    # a size no checkpoint was issued at can still be proven against the tree of that size
    mid = queries.inclusion(engine, 3, tree_size=10)
    assert mid.tree_size == 10 and len(mid.hashes) == 4
    empty = queries.consistency(engine, latest.tree_size, latest.tree_size)
    assert empty.hashes == ()
    empty.verify(latest, latest)

    proof = queries.inclusion(engine, 5)
    forged = InclusionProof(
        proof.leaf_index, proof.tree_size, proof.leaf_hash, (bytes(32), *proof.hashes[1:])
    )
    with pytest.raises(ProofRefused) as caught:
        forged.verify(latest)
    assert caught.value.what == "rootHash"
    with pytest.raises(ProofRefused) as caught:
        proof.verify(latest, store.head().hash)  # another event's hash
    assert caught.value.what == "leafHash"
    with pytest.raises(ProofRefused) as caught:
        proof.verify(kept)  # a proof for another tree size
    assert caught.value.what == "treeSize"
    reference = MemoryTree(event_leaf_hash(e.hash) for e in store.iter_events())
    at_3 = Checkpoint(ORIGIN, 3, reference.root(3))
    consistency = queries.consistency(engine, 3)
    consistency.verify(at_3, latest)
    with pytest.raises(ProofRefused) as caught:
        ConsistencyProof(3, latest.tree_size, consistency.hashes[:-1]).verify(at_3, latest)
    assert caught.value.what == "hashes"
    with pytest.raises(ProofRefused) as caught:  # a rewritten history: another root at 3
        consistency.verify(Checkpoint(ORIGIN, 3, reference.root(2)), latest)
    assert caught.value.what == "fromRoot"


def test_bad_requests_are_refused_naming_the_field(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    engine = database.app_engine
    with pytest.raises(ValidationError) as caught:
        queries.inclusion(engine, 1)
    assert caught.value.field == "treeSize"  # no checkpoint yet
    grow(store, projector, "a", 3)
    for call, field in (
        (lambda: queries.inclusion(engine, 0), "position"),
        (lambda: queries.inclusion(engine, 5), "position"),
        (lambda: queries.inclusion(engine, 1, tree_size=5), "treeSize"),
        (lambda: queries.consistency(engine, 0), "fromSize"),
        (lambda: queries.consistency(engine, 3, 2), "fromSize"),
        (lambda: queries.consistency(engine, 1, 9), "toSize"),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.field == field


def test_a_tampered_tree_gives_proofs_the_verifier_refuses(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    grow(store, projector, "a", 7)
    latest = opened(database)
    with database.owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE merkle_nodes SET hash = sha256(hash) WHERE level = 0 AND index = 5")
        )
    with pytest.raises(ProofRefused) as caught:
        queries.inclusion(database.app_engine, 6).verify(latest)
    assert caught.value.what == "rootHash"


def test_ledger_verify_checks_the_latest_checkpoint_even_after_the_tree_is_rebuilt(
    database: TestDatabase, store: EventStore, projector: Projector
) -> None:
    """Re-hashing the last event keeps the chain whole (nothing follows it); a rebuild then
    gives a tree that agrees with the events. The checkpoint signed before does not."""
    import dataclasses
    import json as json_

    from ledger.domain.chain import CHAIN_FIELDS, chain_hash
    from ledger.projections.rebuild import rebuild
    from ledger.store.verify import verify
    from tests.conftest import APP_ROLE

    grow(store, projector, "a", 4)
    report = verify(store)
    assert report.ok and "latest checkpoint verified: 5 events" in report.describe()
    last = list(store.iter_events())[-1]
    forged = dataclasses.replace(last, data={**last.data, "valuation_usd": "1"})
    new_hash = chain_hash(**{f: getattr(forged, f) for f in CHAIN_FIELDS})
    with database.owner_engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        conn.execute(
            text("UPDATE events SET data = CAST(:d AS jsonb), hash = :h WHERE position = 5"),
            {"d": json_.dumps(forged.data), "h": new_hash},
        )
        conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
    rebuild(database.owner_engine, app_role=APP_ROLE)
    report = verify(store)
    described = report.describe()
    assert report.broken is None and "merkle tree verified: 5 events" in described
    assert not report.ok and "latest checkpoint BROKEN: the checkpoint of 5 events" in described
