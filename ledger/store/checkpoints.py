"""Signed checkpoints of the Merkle tree, issued as it grows and every one kept.

``issue`` runs in the projector's transaction, right after the tree was grown to the batch's
last position: when the tree is larger than the latest checkpoint, it signs a C2SP
tlog-checkpoint of the tree's size and root with the ledger's key (``ledger.signing``) and
inserts it into ``tree_checkpoints``. The projector follows the log within milliseconds of an
append (it listens for ``ledger_appended``, with a half-second poll as a safety net), so the
latest checkpoint covers every event about as soon as the read models do. A checkpoint is
never updated or deleted; a rebuild builds the same tree, so they stay true.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from ..domain.checkpoint import Checkpoint, SigningKey
from ..domain.merkle import root_hash
from . import tree

CHANNEL = "ledger_checkpointed"  # NOTIFYed with the new tree size as a checkpoint commits


@dataclass(frozen=True, slots=True)
class IssuedCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    issued_at: dt.datetime


def latest_size(cur: psycopg.Cursor[Any]) -> int | None:
    row = cur.execute("SELECT max(tree_size) FROM tree_checkpoints").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def issue(cur: psycopg.Cursor[Any], key: SigningKey, size: int) -> int | None:
    """Sign and keep a checkpoint of the stored tree at ``size`` leaves unless one of that
    size or larger exists; the size signed, or None."""
    latest = latest_size(cur)
    if latest is not None and latest >= size:
        return None
    root = root_hash(size, lambda nodes: tree.subtrees(cur, nodes))
    note = Checkpoint(key.name, size, root).sign(key)
    cur.execute(
        "INSERT INTO tree_checkpoints (tree_size, root_hash, note) VALUES (%s, %s, %s)",
        (size, root, note),
    )
    cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(size)))
    return size


def read(cur: psycopg.Cursor[Any], tree_size: int | None = None) -> IssuedCheckpoint | None:
    """The checkpoint issued at ``tree_size`` (the latest if None), or None if none was."""
    if tree_size is None:
        row = cur.execute(
            "SELECT tree_size, root_hash, note, issued_at FROM tree_checkpoints"
            " ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
    else:
        row = cur.execute(
            "SELECT tree_size, root_hash, note, issued_at FROM tree_checkpoints"
            " WHERE tree_size = %s",
            (tree_size,),
        ).fetchone()
    if row is None:
        return None
    return IssuedCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])
