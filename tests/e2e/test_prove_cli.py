"""``ledger checkpoint`` and ``ledger prove`` against a real PostgreSQL, checked by
``ledger verify-proof`` with no database: what an auditor does, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.domain.checkpoint import SigningKey
from ledger.signing import write_key_file
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.e2e.processes import clean_env, run_ledger
from tests.factories import registered, valuation

ORIGIN = "ledger.test/prove"
OFFLINE = clean_env(LEDGER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing")


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, SigningKey]:
    path = tmp_path / "checkpoint.key"
    key = SigningKey.generate(ORIGIN)
    write_key_file(path, key)
    return path, key


@pytest.fixture
def env(database: TestDatabase, key: tuple[Path, SigningKey]) -> dict[str, str]:
    return clean_env(
        LEDGER_DATABASE_URL=database.libpq_url,
        LEDGER_CHECKPOINT_KEY_FILE=str(key[0]),
        LEDGER_ORIGIN=ORIGIN,
    )


def ledger(*args: str, env: dict[str, str]) -> str:
    result = run_ledger(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_auditor_keeps_a_checkpoint_and_a_digest_and_proves_both_later(
    store: EventStore, env: dict[str, str], key: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    vkey = key[1].verifier.encode()
    store.append("entity/openai", [registered(), valuation("157000000000"), valuation()])
    kept = tmp_path / "kept.txt"
    kept.write_text(ledger("checkpoint", env=env))  # covers the 3 events with no service
    assert kept.read_text().splitlines()[:2] == [ORIGIN, "3"]
    digest = store.head().digest
    store.append("entity/nvidia", [registered("nvidia")])
    store.append("entity/amd", [registered("amd"), valuation("2", "amd")])
    today = tmp_path / "today.txt"
    today.write_text(ledger("checkpoint", env=env))
    assert today.read_text().splitlines()[1] == "6"
    as_json = json.loads(ledger("checkpoint", "--size", "3", "--json", env=env))
    assert as_json["ledgerCheckpoint"]["note"] == kept.read_text()
    assert as_json["ledgerCheckpoint"]["publicKey"] == vkey

    inclusion = tmp_path / "inclusion.json"
    inclusion.write_text(ledger("prove", str(digest.position), env=env))
    said = ledger(
        "verify-proof",
        str(inclusion),
        "--checkpoint",
        str(today),
        "--key",
        vkey,
        "--hash",
        digest.hash,
        env=OFFLINE,
    )
    assert f"position {digest.position} is in the tree of 6 events" in said
    consistency = tmp_path / "consistency.json"
    consistency.write_text(ledger("prove", "--consistency", "3", env=env))
    said = ledger(
        "verify-proof",
        str(consistency),
        "--from-checkpoint",
        str(kept),
        "--checkpoint",
        str(today),
        "--key",
        vkey,
        env=OFFLINE,
    )
    assert "extends the tree of 3 events" in said

    # the same proof against the kept checkpoint is for another tree size, and is refused
    refused = run_ledger(
        "verify-proof", str(inclusion), "--checkpoint", str(kept), "--key", vkey, env=OFFLINE
    )
    assert refused.returncode == 1 and "treeSize" in refused.stderr
    at_size = json.loads(ledger("prove", "2", "--tree-size", "3", env=env))
    assert at_size["inclusionProof"]["treeSize"] == 3
    beyond = run_ledger("prove", "7", env=env)
    assert beyond.returncode == 2 and "position" in beyond.stderr


def test_without_a_key_no_checkpoint_is_issued_and_the_command_says_which_setting(
    database: TestDatabase,
) -> None:
    result = run_ledger("checkpoint", env=clean_env(LEDGER_DATABASE_URL=database.libpq_url))
    assert result.returncode == 2 and "LEDGER_CHECKPOINT_KEY_FILE" in result.stderr
