"""The Merkle tree's table: every complete subtree of the RFC 9162 tree over the events.

``merkle_nodes(level, index, hash)`` (migration 0012) holds the complete subtrees of a tree
of n leaves (2n less the bits set in n); none ever changes once written. :func:`extend` grows the tree to a
position in the caller's transaction: it resumes a :class:`~ledger.domain.merkle.CompactRange`
from the O(log n) peaks, feeds it the new events' hashes in position order, and COPYs the
nodes each one completed. The projector calls it in the transaction that projects the same
events (``ledger.projections.statements.apply``), so the tree, the read models and their
checkpoint move together; the rebuild builds it afresh the same way.

Table names are unqualified, as the read models': the rebuild points ``search_path`` at a
schema of fresh tables. Works on a psycopg cursor (the projector's and the rebuild's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..domain.errors import LedgerError
from ..domain.merkle import CompactRange, Node, event_leaf_hash

CHUNK = 50_000  # events read per round trip while extending


class TreeBroken(LedgerError):
    """The tree's table lacks a node it should hold, or the events have a gap."""


def size(cur: psycopg.Cursor[Any]) -> int:
    """How many leaves the stored tree has."""
    row = cur.execute(
        "SELECT coalesce(max(index) + 1, 0) FROM merkle_nodes WHERE level = 0"
    ).fetchone()
    return int(row[0]) if row else 0


def subtrees(cur: psycopg.Cursor[Any], nodes: Sequence[Node]) -> dict[Node, bytes]:
    """The hashes of ``nodes`` in one query (a :data:`~ledger.domain.merkle.SubtreeHashes`)."""
    if not nodes:
        return {}
    rows = cur.execute(
        "SELECT n.level, n.index, n.hash FROM merkle_nodes n"
        " JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, index)"
        " ON n.level = w.level AND n.index = w.index",
        ([n.level for n in nodes], [n.index for n in nodes]),
    ).fetchall()
    found = {Node(level, index): bytes(h) for level, index, h in rows}
    missing = [n for n in nodes if n not in found]
    if missing:
        raise TreeBroken(
            f"the tree's table lacks node (level {missing[0].level}, index {missing[0].index})"
        )
    return found


def extend(cur: psycopg.Cursor[Any], upto: int) -> int:
    """Grow the stored tree to the events at positions up to ``upto``; its new size."""
    start = size(cur)
    if start >= upto:
        return start
    tree = CompactRange.load(start, lambda nodes: subtrees(cur, nodes))
    while tree.size < upto:
        last = min(upto, tree.size + CHUNK)
        rows = cur.execute(
            "SELECT position, hash FROM public.events"
            " WHERE position > %s AND position <= %s ORDER BY position",
            (tree.size, last),
        ).fetchall()
        completed: list[tuple[Node, bytes]] = []
        for position, event_hash in rows:
            if position != tree.size + 1:
                raise TreeBroken(f"position {tree.size + 1} is missing from the events")
            completed.extend(tree.append(event_leaf_hash(event_hash)))
        if tree.size != last:
            raise TreeBroken(f"position {tree.size + 1} is missing from the events")
        with cur.copy("COPY merkle_nodes (level, index, hash) FROM STDIN") as copy:
            for node, h in completed:
                copy.write_row((node.level, node.index, h))
    return tree.size
