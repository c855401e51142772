"""``ledger verify-proof`` and ``ledger checkpoint keygen`` as an auditor and an operator run
them: real subprocesses, and no database (the URL given points where nothing listens)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from ledger.domain.checkpoint import Checkpoint, SigningKey, VerifierKey
from ledger.domain.merkle import MemoryTree, event_leaf_hash
from ledger.domain.proofs import ConsistencyProof, InclusionProof
from tests.e2e.processes import clean_env, run_ledger

# Any attempt to open the ledger would fail on this URL (nothing listens on port 1).
ENV = clean_env(LEDGER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing")
ORIGIN = "ledger.test/e2e"
EVENTS = [hashlib.sha256(f"event {i}".encode()).hexdigest() for i in range(1, 31)]
TREE = MemoryTree(event_leaf_hash(h) for h in EVENTS)


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[Path, SigningKey, str]:
    out = tmp_path / "checkpoint.key"
    result = run_ledger("checkpoint", "keygen", "--out", str(out), "--origin", ORIGIN, env=ENV)
    assert result.returncode == 0, result.stderr
    setting, vkey = result.stdout.splitlines()
    assert setting == f"LEDGER_CHECKPOINT_KEY_FILE={out}"
    return out, SigningKey.parse(out.read_text()), vkey


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_keygen_writes_a_private_key_file_and_prints_its_vkey(keyed, tmp_path: Path) -> None:
    out, key, vkey = keyed
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert VerifierKey.parse(vkey) == key.verifier and key.name == ORIGIN
    again = run_ledger("checkpoint", "keygen", "--out", str(out), env=ENV)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert SigningKey.parse(out.read_text()) == key  # untouched


def test_keygen_names_the_default_origin(tmp_path: Path) -> None:
    result = run_ledger("checkpoint", "keygen", "--out", str(tmp_path / "k"), env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("localhost/deal-ledger+")


def test_the_printed_setting_line_is_a_setting_the_ledger_reads(keyed) -> None:
    out, _, _ = keyed
    env = ENV | {"LEDGER_CHECKPOINT_KEY_FILE": str(out), "LEDGER_ORIGIN": ORIGIN}
    result = run_ledger("config", env=env)
    assert result.returncode == 0, result.stderr


def test_keygen_takes_its_default_origin_from_the_setting(tmp_path: Path) -> None:
    env = ENV | {"LEDGER_ORIGIN": ORIGIN}
    result = run_ledger("checkpoint", "keygen", "--out", str(tmp_path / "k"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith(f"{ORIGIN}+")


def test_an_inclusion_proof_verifies_and_a_tampered_one_is_refused(keyed, tmp_path: Path) -> None:
    _, key, vkey = keyed
    checkpoint = write(tmp_path / "cp.txt", Checkpoint(ORIGIN, 30, TREE.root(30)).sign(key))
    proof = InclusionProof(11, 30, event_leaf_hash(EVENTS[11]), tuple(TREE.inclusion_proof(11, 30)))
    good = write(tmp_path / "p.json", json.dumps(proof.to_json()))
    args = ("verify-proof", str(good), "--checkpoint", str(checkpoint), "--key", vkey)
    result = run_ledger(*args, "--hash", EVENTS[11], env=ENV)
    assert result.returncode == 0, result.stderr
    assert "position 12 is in the tree of 30 events of ledger.test/e2e" in result.stdout

    document = proof.to_json()
    document["inclusionProof"]["hashes"][2] = "ff" * 32
    write(good, json.dumps(document))
    result = run_ledger(*args, env=ENV)
    assert result.returncode == 1 and "rootHash:" in result.stderr

    write(good, json.dumps(proof.to_json()))
    result = run_ledger(*args, "--hash", EVENTS[12], env=ENV)
    assert result.returncode == 1 and "leafHash:" in result.stderr


def test_a_wrong_key_a_forged_checkpoint_and_another_size_are_refused_by_name(
    keyed, tmp_path: Path
) -> None:
    _, key, vkey = keyed
    proof = InclusionProof(3, 30, event_leaf_hash(EVENTS[3]), tuple(TREE.inclusion_proof(3, 30)))
    proof_file = write(tmp_path / "p.json", json.dumps(proof.to_json()))
    note = Checkpoint(ORIGIN, 30, TREE.root(30)).sign(key)
    cases = {
        "key:": (note, SigningKey.generate(ORIGIN).verifier.encode()),
        "signature:": (note.replace("\n30\n", "\n29\n"), vkey),
        "treeSize:": (Checkpoint(ORIGIN, 29, TREE.root(29)).sign(key), vkey),
        "line 3:": (sign_bad_root(key), vkey),
    }
    for what, (text, vk) in cases.items():
        cp = write(tmp_path / "cp.txt", text)
        result = run_ledger(
            "verify-proof", str(proof_file), "--checkpoint", str(cp), "--key", vk, env=ENV
        )
        assert result.returncode == 1, (what, result.stderr)
        assert what in result.stderr, (what, result.stderr)


def sign_bad_root(key: SigningKey) -> str:
    from ledger.domain.checkpoint import sign_note

    return sign_note(f"{ORIGIN}\n30\nnot-base64\n", key)


def test_a_consistency_proof_checks_two_checkpoints(keyed, tmp_path: Path) -> None:
    _, key, _ = keyed
    key_file = write(tmp_path / "ledger-key", key.verifier.encode() + "\nretired+00000000+AA==\n")
    old = write(tmp_path / "old.txt", Checkpoint(ORIGIN, 13, TREE.root(13)).sign(key))
    new = write(tmp_path / "new.txt", Checkpoint(ORIGIN, 30, TREE.root(30)).sign(key))
    proof = ConsistencyProof(13, 30, tuple(TREE.consistency_proof(13, 30)))
    proof_file = write(tmp_path / "c.json", json.dumps({"data": proof.to_json()}))
    args = ("verify-proof", str(proof_file), "--checkpoint", str(new), "--key", str(key_file))
    result = run_ledger(*args, "--from-checkpoint", str(old), env=ENV)
    assert result.returncode == 0, result.stderr
    assert (
        "the tree of 30 events" in result.stdout
        and "extends the tree of 13 events" in result.stdout
    )

    result = run_ledger(*args, env=ENV)
    assert result.returncode == 2 and "--from-checkpoint" in result.stderr

    # a history that rewrote event 5: the old checkpoint is not a prefix of it
    forked = MemoryTree(event_leaf_hash(h) for h in [*EVENTS[:4], "00" * 32, *EVENTS[5:]])
    write(new, Checkpoint(ORIGIN, 30, forked.root(30)).sign(key))
    write(
        proof_file,
        json.dumps(ConsistencyProof(13, 30, tuple(forked.consistency_proof(13, 30))).to_json()),
    )
    result = run_ledger(*args, "--from-checkpoint", str(old), env=ENV)
    assert (
        result.returncode == 1
        and "fromRoot:" in result.stderr
        and "not consistent" in result.stderr
    )


def test_a_malformed_key_is_a_usage_error(tmp_path: Path) -> None:
    proof = write(tmp_path / "p.json", "{}")
    cp = write(tmp_path / "cp.txt", "")
    result = run_ledger(
        "verify-proof", str(proof), "--checkpoint", str(cp), "--key", "nope", env=ENV
    )
    assert result.returncode == 2 and "key:" in result.stderr
