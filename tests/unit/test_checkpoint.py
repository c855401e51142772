"""Signed notes, keys and checkpoints (C2SP), and the proof documents checked against them."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ledger.domain.checkpoint import (
    Checkpoint,
    SigningKey,
    VerifierKey,
    key_id,
    open_checkpoint,
    open_note,
    parse_note,
    sign_note,
)
from ledger.domain.errors import LedgerError, ProofRefused, ValidationError
from ledger.domain.merkle import MemoryTree, event_leaf_hash
from ledger.domain.proofs import ConsistencyProof, InclusionProof, parse_proof

# -- known answers: golang.org/x/mod/sumdb/note, note_test.go ------------------------------
# (golang/mod commit 02c991387e35f9e4c0a9b7ce137717055f8d716d: TestNewVerifier, TestNewSigner,
# TestSign, TestOpen.)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLo"
    "x33WWd1RvMc+QQ=\n"
)


def test_the_go_keys_read_and_match() -> None:
    signer, verifier = SigningKey.parse(PETER_SKEY), VerifierKey.parse(PETER_VKEY)
    assert signer.verifier == verifier
    assert verifier.key_id == 0xC74F20A3 == key_id("PeterNeumann", verifier.public_key)
    assert signer.encode() == PETER_SKEY and verifier.encode() == PETER_VKEY
    assert signer.seed.hex() not in repr(signer)


def test_signing_the_go_text_gives_the_go_note_byte_for_byte() -> None:
    assert sign_note(TEXT, SigningKey.parse(PETER_SKEY)) == TEXT + "\n" + PETER_SIG


def test_a_note_of_two_signers_opens_with_either_key() -> None:
    message = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        assert open_note(message, VerifierKey.parse(vkey)).text == TEXT


def test_a_mangled_vkey_or_signing_key_is_refused() -> None:
    """Every proper substring and every byte incremented (TestNewVerifier, TestNewSigner),
    and the two hand-made bad keys of TestNewVerifier."""
    for text, parse in ((PETER_VKEY, VerifierKey.parse), (PETER_SKEY, SigningKey.parse)):
        manglings = [
            text[i:j]
            for i in range(len(text) + 1)
            for j in range(i + 1, len(text) + 1)
            if (i, j) != (0, len(text))
        ]
        manglings += [text[:i] + chr(ord(text[i]) + 1) + text[i + 1 :] for i in range(len(text))]
        for bad in manglings:
            if bad.strip() == text:
                continue  # a trailing newline or space stripped is the same key
            with pytest.raises(ValidationError) as refused:
                parse(bad)
            assert refused.value.field == "key"
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(ValidationError):
            VerifierKey.parse(bad)


def test_a_corrupted_signature_is_refused_naming_the_key() -> None:
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(ProofRefused, match=r"PeterNeumann\+c74f20a3") as refused:
        open_note(bad, VerifierKey.parse(PETER_VKEY))
    assert refused.value.what == "signature"


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
        "gKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_the_go_malformed_notes_are_refused(message: str) -> None:
    """The badMsgs of TestOpen (and its 101 signatures)."""
    with pytest.raises(ProofRefused):
        parse_note(message)


def test_a_note_not_valid_utf8_is_refused_naming_the_line() -> None:
    with pytest.raises(ProofRefused) as refused:
        parse_note(("\xff" + TEXT).encode("latin-1") + b"\n" + PETER_SIG.encode())
    assert refused.value.what == "line 1"


def test_a_note_signed_only_by_other_keys_is_refused_naming_the_key() -> None:
    with pytest.raises(ProofRefused, match=r"not signed by key EnochRoot\+af0cfe78") as refused:
        open_note(TEXT + "\n" + PETER_SIG, VerifierKey.parse(ENOCH_VKEY))
    assert refused.value.what == "key"


# -- known answers: c2sp.org/tlog-checkpoint ---------------------------------------------

C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv"
    "2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)  # the example of C2SP tlog-checkpoint.md (C2SP/C2SP commit 2793893976c8)


def test_the_c2sp_example_checkpoint_parses() -> None:
    note = parse_note(C2SP_EXAMPLE)
    checkpoint = Checkpoint.parse(note.text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.tree_size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.body() == note.text
    ((signature,),) = [note.signatures]
    assert signature.name == "example.com/behind-the-sofa" and len(signature.signature) == 64


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("\n5\n" + base64.b64encode(bytes(32)).decode() + "\n", "line 1"),
        ("log\n05\n" + base64.b64encode(bytes(32)).decode() + "\n", "line 2"),
        ("log\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "line 2"),
        ("log\n١\n" + base64.b64encode(bytes(32)).decode() + "\n", "line 2"),  # not ASCII
        ("log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n", "line 3"),
        ("log\n5\nnot base64!\n", "line 3"),
        ("log\n5\n", "line 3"),
        ("log\n5\n" + base64.b64encode(bytes(32)).decode() + "\next\n\n", "line 5"),
    ],
)
def test_a_malformed_checkpoint_is_refused_naming_the_line(body: str, line: str) -> None:
    with pytest.raises(ProofRefused) as refused:
        Checkpoint.parse(body)
    assert refused.value.what == line


def test_the_root_hash_line_must_be_canonical_base64() -> None:
    good = base64.b64encode(bytes(32)).decode()  # "AAAA...AAA=": the last A has 2 spare bits
    assert Checkpoint.parse(f"log\n0\n{good}\n").root_hash == bytes(32)
    with pytest.raises(ProofRefused) as refused:
        Checkpoint.parse(f"log\n0\n{good[:-2]}B=\n")  # decodes to the same bytes in Python
    assert refused.value.what == "line 3"


# -- the ledger's checkpoints and proofs --------------------------------------------------

ORIGIN = "ledger.test/proofs"
EVENT_HASHES = [hashlib.sha256(f"event {i}".encode()).hexdigest() for i in range(1, 101)]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate(ORIGIN)


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(event_leaf_hash(h) for h in EVENT_HASHES)


def signed(tree: MemoryTree, size: int, key: SigningKey) -> str:
    return Checkpoint(ORIGIN, size, tree.root(size)).sign(key)


def test_a_signed_checkpoint_opens_with_its_key(tree: MemoryTree, key: SigningKey) -> None:
    note = signed(tree, 57, key)
    lines = note.splitlines()
    assert lines[:3] == [ORIGIN, "57", base64.b64encode(tree.root(57)).decode()]
    assert lines[3] == "" and lines[4].startswith(f"— {ORIGIN} ")
    checkpoint = open_checkpoint(note, key.verifier)
    assert (checkpoint.tree_size, checkpoint.root_hash) == (57, tree.root(57))


def test_a_generated_key_round_trips(key: SigningKey) -> None:
    assert SigningKey.parse(key.encode()) == key
    assert VerifierKey.parse(key.verifier.encode()) == key.verifier
    assert key.encode().startswith(f"PRIVATE+KEY+{ORIGIN}+{key.verifier.key_id:08x}+")
    assert key.seed.hex() not in repr(key)


def test_a_wrong_key_is_refused_naming_the_key(tree: MemoryTree, key: SigningKey) -> None:
    note = signed(tree, 57, key)
    for other in (SigningKey.generate(ORIGIN), SigningKey.generate("someone.else/log")):
        with pytest.raises(ProofRefused) as refused:
            open_checkpoint(note, other.verifier)
        assert refused.value.what == "key"


def test_a_checkpoint_of_another_origin_is_refused(tree: MemoryTree, key: SigningKey) -> None:
    forged = Checkpoint("another.log/x", 57, tree.root(57)).sign(key)
    with pytest.raises(ProofRefused) as refused:
        open_checkpoint(forged, key.verifier)
    assert refused.value.what == "origin"


def test_a_forged_checkpoint_is_refused(tree: MemoryTree, key: SigningKey) -> None:
    """A note whose text says another size (or root) under the real signature."""
    note = signed(tree, 57, key)
    for forged in (
        note.replace("\n57\n", "\n58\n", 1),
        note.replace(
            base64.b64encode(tree.root(57)).decode(), base64.b64encode(tree.root(58)).decode()
        ),
    ):
        with pytest.raises(ProofRefused) as refused:
            open_checkpoint(forged, key.verifier)
        assert refused.value.what == "signature"


def _flips(data: bytes) -> list[bytes]:
    """The document with one byte changed, for every byte (and every one of its bits, for the
    bytes of a signature: a base64 character has spare bits a single flip may not reach)."""
    return [
        data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :]
        for i in range(len(data))
        for b in range(8)
    ]


def test_flipping_any_bit_of_a_signed_checkpoint_is_refused(
    tree: MemoryTree, key: SigningKey
) -> None:
    note = signed(tree, 57, key).encode()
    for tampered in _flips(note):
        with pytest.raises(ProofRefused):
            open_checkpoint(tampered, key.verifier)


def inclusion(tree: MemoryTree, index: int, size: int) -> InclusionProof:
    return InclusionProof(
        index, size, event_leaf_hash(EVENT_HASHES[index]), tuple(tree.inclusion_proof(index, size))
    )


def consistency(tree: MemoryTree, m: int, n: int) -> ConsistencyProof:
    return ConsistencyProof(m, n, tuple(tree.consistency_proof(m, n)))


def test_proof_documents_round_trip_in_the_graphql_names(tree: MemoryTree) -> None:
    proof = inclusion(tree, 41, 57)
    document = proof.to_json()
    assert list(document["inclusionProof"]) == ["leafIndex", "treeSize", "leafHash", "hashes"]
    assert parse_proof(json.dumps(document)) == proof
    assert parse_proof(json.dumps({"data": document})) == proof  # a GraphQL answer as it is
    other = consistency(tree, 20, 57)
    assert list(other.to_json()["consistencyProof"]) == ["fromSize", "toSize", "hashes"]
    assert parse_proof(json.dumps(other.to_json()).encode()) == other


@pytest.mark.parametrize(
    ("document", "what"),
    [
        ("[]", "proof"),
        ("{", "proof"),
        ('{"inclusionProof": {}, "consistencyProof": {}}', "proof"),
        ('{"inclusionProof": []}', "inclusionProof"),
        ('{"consistencyProof": {"fromSize": 1, "toSize": 2}}', "hashes"),
        ('{"consistencyProof": {"fromSize": 1, "toSize": 2, "hashes": [], "x": 1}}', "x"),
        (
            '{"consistencyProof": {"fromSize": 1, "fromSize": 1, "toSize": 2, "hashes": []}}',
            "fromSize",
        ),
        ('{"consistencyProof": {"fromSize": true, "toSize": 2, "hashes": []}}', "fromSize"),
        ('{"consistencyProof": {"fromSize": -1, "toSize": 2, "hashes": []}}', "fromSize"),
        ('{"consistencyProof": {"fromSize": 1.0, "toSize": 2, "hashes": []}}', "fromSize"),
        ('{"consistencyProof": {"fromSize": 1, "toSize": 2, "hashes": "ab"}}', "hashes"),
        (
            '{"consistencyProof": {"fromSize": 1, "toSize": 2, "hashes": ["' + "A" * 64 + '"]}}',
            "hashes[0]",
        ),
        (
            '{"consistencyProof": {"fromSize": 1, "toSize": 2, "hashes": ["' + "a" * 62 + '"]}}',
            "hashes[0]",
        ),
    ],
)
def test_a_malformed_proof_document_is_refused_naming_the_field(document: str, what: str) -> None:
    with pytest.raises(ProofRefused) as refused:
        parse_proof(document)
    assert refused.value.what == what


def test_proofs_verify_against_their_checkpoints(tree: MemoryTree, key: SigningKey) -> None:
    new = open_checkpoint(signed(tree, 100, key), key.verifier)
    old = open_checkpoint(signed(tree, 57, key), key.verifier)
    for index in range(100):
        inclusion(tree, index, 100).verify(new, EVENT_HASHES[index])
    consistency(tree, 57, 100).verify(old, new)
    consistency(tree, 100, 100).verify(new, new)  # fromSize = toSize: the empty proof


def test_a_proof_for_another_tree_size_is_refused_naming_the_size(
    tree: MemoryTree, key: SigningKey
) -> None:
    checkpoint = open_checkpoint(signed(tree, 100, key), key.verifier)
    with pytest.raises(ProofRefused) as refused:
        inclusion(tree, 3, 99).verify(checkpoint)
    assert refused.value.what == "treeSize"
    old = open_checkpoint(signed(tree, 57, key), key.verifier)
    with pytest.raises(ProofRefused) as refused:
        consistency(tree, 56, 100).verify(old, checkpoint)
    assert refused.value.what == "fromSize"
    with pytest.raises(ProofRefused) as refused:
        consistency(tree, 57, 99).verify(old, checkpoint)
    assert refused.value.what == "toSize"


def test_an_inclusion_proof_of_another_event_is_refused(tree: MemoryTree, key: SigningKey) -> None:
    checkpoint = open_checkpoint(signed(tree, 100, key), key.verifier)
    with pytest.raises(ProofRefused) as refused:
        inclusion(tree, 3, 100).verify(checkpoint, EVENT_HASHES[4])
    assert refused.value.what == "leafHash"


def test_a_history_that_does_not_extend_the_old_one_is_refused(key: SigningKey) -> None:
    """Two ledgers sharing 40 events then diverging: no consistency proof joins them."""
    forked = MemoryTree(
        event_leaf_hash(h) for h in [*EVENT_HASHES[:40], *reversed(EVENT_HASHES[40:])]
    )
    honest = MemoryTree(event_leaf_hash(h) for h in EVENT_HASHES)
    old = open_checkpoint(signed(honest, 57, key), key.verifier)
    new = open_checkpoint(signed(forked, 100, key), key.verifier)
    with pytest.raises(ProofRefused) as refused:
        consistency(forked, 57, 100).verify(old, new)
    assert refused.value.what == "fromRoot"
    consistency(forked, 40, 100).verify(open_checkpoint(signed(honest, 40, key), key.verifier), new)


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_flipping_any_bit_of_a_proof_document_is_refused(
    tree: MemoryTree, key: SigningKey, kind: str
) -> None:
    new = open_checkpoint(signed(tree, 100, key), key.verifier)
    old = open_checkpoint(signed(tree, 57, key), key.verifier)
    proof = inclusion(tree, 41, 100) if kind == "inclusion" else consistency(tree, 57, 100)
    document = json.dumps(proof.to_json(), indent=2).encode()
    accepted = []
    for tampered in _flips(document):
        try:
            parsed = parse_proof(tampered)
            if isinstance(parsed, InclusionProof):
                parsed.verify(new, EVENT_HASHES[41])
            else:
                parsed.verify(old, new)
        except LedgerError as refused:
            assert isinstance(refused, ProofRefused | ValidationError), refused
            continue
        if parsed != proof:
            accepted.append(tampered)
    assert accepted == []


def test_a_witness_refuses_a_shrunk_or_rewritten_tree_naming_both_checkpoints() -> None:
    from ledger.domain.merkle import MemoryTree, leaf_hash
    from ledger.domain.witness import SplitView, accept

    key = SigningKey.generate("ledger.test/witness-unit")
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(5))
    other = MemoryTree(leaf_hash(bytes([i + 100])) for i in range(5))
    at = {n: Checkpoint(key.name, n, tree.root(n)) for n in (3, 5)}
    assert accept(key.verifier, None, at[3].sign(key), None) == at[3]
    assert accept(key.verifier, at[5], at[5].sign(key), None) == at[5]
    for shown, reason in (
        (at[3], "the tree shrank"),
        (Checkpoint(key.name, 5, other.root()), "different roots"),
    ):
        with pytest.raises(SplitView) as caught:
            accept(key.verifier, at[5], shown.sign(key), None)
        assert reason in str(caught.value) and str(caught.value).count("5 events, root") >= 1
