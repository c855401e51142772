"""Tampering against the proofs: a superuser rewrites history as the reliability suite does,
and even holding the signing key, the checkpoint they sign of the rewritten tree is refused
by a witness holding an earlier checkpoint, naming both (a split view). Edits that leave every
event's hash as it was leave the tree as it was too: those are the chain's to catch, and the
test checks ``ledger verify``'s verifier does (docs/proofs.md, "what is not proven").

Sizes: ``LEDGER_TEST_RELIABILITY_TAMPERINGS`` random tamperings (CI 15, the issue's 50) of a
synthetic ledger of ``LEDGER_TEST_RELIABILITY_TAMPER_PROOF_LEDGER`` events (CI 300).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from sqlalchemy import text

from ledger.domain.chain import ChainVerifier
from ledger.domain.checkpoint import Checkpoint, SigningKey
from ledger.domain.errors import ProofRefused
from ledger.domain.merkle import MemoryTree, event_leaf_hash
from ledger.domain.proofs import ConsistencyProof
from ledger.domain.witness import SplitView, accept, needs_proof
from ledger.store import EventStore
from ledger.synth import synth
from tests.conftest import TestDatabase
from tests.reliability.conftest import size
from tests.reliability.test_tampering import TAMPERINGS, Forger, Superuser

pytestmark = pytest.mark.reliability

LEDGER_EVENTS = size("TAMPER_PROOF_LEDGER", 300)
KEY = SigningKey.generate("ledger.test/tampering")


def hashes(database: TestDatabase) -> list[str]:
    with database.owner_engine.connect() as conn:
        return list(conn.execute(text("SELECT hash FROM events ORDER BY position")).scalars())


def shown_by_forger(tampered: list[str], kept: Checkpoint) -> tuple[str, ConsistencyProof | None]:
    """What a forger holding the key shows: a signed checkpoint of the tree of the tampered
    events, and the consistency proof from the kept size that tree gives."""
    tree = MemoryTree(event_leaf_hash(h) for h in tampered)
    shown = Checkpoint(KEY.name, tree.size, tree.root())
    proof = None
    if needs_proof(kept, shown):
        proof = ConsistencyProof(
            kept.tree_size, tree.size, tuple(tree.consistency_proof(kept.tree_size))
        )
    return shown.sign(KEY), proof


def test_a_witness_refuses_every_rewritten_tree_and_the_chain_catches_the_rest(
    database: TestDatabase, store: EventStore, seed: int
) -> None:
    synth(store, events=LEDGER_EVENTS, entities=max(10, LEDGER_EVENTS // 40), seed=seed)
    pristine = hashes(database)
    tree = MemoryTree(event_leaf_hash(h) for h in pristine)
    kept = Checkpoint(KEY.name, tree.size, tree.root())  # the witness accepted this one
    superuser = Superuser(database)
    rng = random.Random(seed)
    with database.owner_engine.connect() as conn:
        forger = Forger(conn, rng, len(pristine))
        kinds = forger.kinds
        plan = kinds + [rng.choice(kinds) for _ in range(TAMPERINGS - len(kinds))]
        rng.shuffle(plan)
        tamperings = [draw() for draw in plan]

    outcomes: Counter[str] = Counter()
    for number, tampering in enumerate(tamperings, 1):
        superuser.run(tampering.statements)
        tampered = hashes(database)
        what = f"tampering {number} ({tampering.description})"
        if tampered != pristine:
            note, proof = shown_by_forger(tampered, kept)
            with pytest.raises(SplitView) as caught:
                accept(KEY.verifier, kept, note, proof)
            assert f"({kept.tree_size} events, root {kept.root_hash.hex()})" in str(caught.value), (
                what
            )
            outcomes["witness: split view"] += 1
        else:  # the same hashes, other content: the tree cannot tell, the chain must
            assert tampering.first_bad is not None, what
            verifier = ChainVerifier()
            for event in store.iter_events():
                if verifier.feed(event) is not None:
                    break
            assert verifier.broken is not None, what
            assert verifier.broken.position == tampering.first_bad, what
            outcomes["chain: broken"] += 1
        superuser.restore()
    assert outcomes["witness: split view"] > 0
    print(dict(outcomes))


def test_a_forged_checkpoint_a_wrong_key_and_another_size_are_refused_by_name() -> None:
    tree = MemoryTree(event_leaf_hash(f"{i:064x}") for i in range(1, 9))
    kept = Checkpoint(KEY.name, 5, tree.root(5))
    good = Checkpoint(KEY.name, 8, tree.root()).sign(KEY)
    proof = ConsistencyProof(5, 8, tuple(tree.consistency_proof(5)))
    assert accept(KEY.verifier, kept, good, proof).tree_size == 8
    other = SigningKey.generate(KEY.name)
    forged = good.replace("\n8\n", "\n9\n")
    for note, named, given in (
        (forged, "signature", proof),
        (Checkpoint(KEY.name, 8, tree.root()).sign(other), "key", proof),
        (good, "toSize", ConsistencyProof(5, 7, proof.hashes)),
    ):
        with pytest.raises(ProofRefused) as caught:
            accept(KEY.verifier, kept, note, given)
        assert named in str(caught.value), (named, str(caught.value))
