"""docs/proofs.md stays true: its hand-check script verifies a real proof and refuses a tampered
one, and its example checkpoint opens with its example key."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.domain.checkpoint import Checkpoint, SigningKey, VerifierKey, open_checkpoint
from ledger.domain.merkle import MemoryTree, event_leaf_hash
from ledger.domain.proofs import InclusionProof

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "proofs.md").read_text()
(SCRIPT,) = re.findall(r"```python\n(.*?)```", PAGE, flags=re.DOTALL)
EVENTS = [hashlib.sha256(f"event {i}".encode()).hexdigest() for i in range(1, 101)]
TREE = MemoryTree(event_leaf_hash(h) for h in EVENTS)
KEY = SigningKey.generate("localhost/deal-ledger")


def run_script(
    directory: Path, index: int, size: int, tamper: bool = False
) -> subprocess.CompletedProcess:
    proof = InclusionProof(
        index, size, event_leaf_hash(EVENTS[index]), tuple(TREE.inclusion_proof(index, size))
    ).to_json()
    if tamper:
        proof["inclusionProof"]["hashes"][-1] = "00" * 32
    (directory / "inclusion.json").write_text(json.dumps(proof))
    (directory / "checkpoint.txt").write_text(
        Checkpoint("localhost/deal-ledger", size, TREE.root(size)).sign(KEY)
    )
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=directory, capture_output=True, text=True, check=False
    )


def test_the_script_is_about_thirty_lines() -> None:
    assert len([line for line in SCRIPT.splitlines() if line.strip()]) <= 32


@pytest.mark.parametrize(("index", "size"), [(0, 1), (4, 5), (6, 7), (3, 8), (41, 100), (99, 100)])
def test_the_hand_check_verifies_a_real_proof(tmp_path: Path, index: int, size: int) -> None:
    result = run_script(tmp_path, index, size)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"leaf {index} is in localhost/deal-ledger at size {size}\n"


@pytest.mark.parametrize(("index", "size"), [(4, 5), (41, 100)])
def test_the_hand_check_refuses_a_tampered_proof(tmp_path: Path, index: int, size: int) -> None:
    result = run_script(tmp_path, index, size, tamper=True)
    assert result.returncode != 0
    assert "does not lead to the checkpoint's root" in result.stderr


def test_the_example_checkpoint_opens_with_the_example_key() -> None:
    (note,) = re.findall(r"```\n(localhost/deal-ledger\n4\n.*?\n)```", PAGE, flags=re.DOTALL)
    (vkey,) = set(re.findall(r"`(localhost/deal-ledger\+[0-9a-f]{8}\+\S+)`", PAGE))
    checkpoint = open_checkpoint(note, VerifierKey.parse(vkey))
    assert checkpoint.tree_size == 4 and checkpoint.root_hash == TREE.root(4)
