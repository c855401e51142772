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
from ..domain.merkle import CompactRange, Node, leaf_hash

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
    # One index probe per node (a join against the list would let the planner scan a level).
    rows = cur.execute(
        "SELECT w.level, w.index, (SELECT n.hash FROM merkle_nodes n"
        " WHERE n.level = w.level AND n.index = w.index)"
        " FROM unnest(%s::smallint[], %s::bigint[]) AS w(level, index)",
        ([n.level for n in nodes], [n.index for n in nodes]),
    ).fetchall()
    found = {Node(level, index): bytes(h) for level, index, h in rows if h is not None}
    missing = [n for n in nodes if n not in found]
    if missing:
        raise TreeBroken(
            f"the tree's table lacks node (level {missing[0].level}, index {missing[0].index})"
        )
    return found


# One round trip reads what growing the tree needs: its size, its peaks (the complete subtree
# of each set bit b of the size: level b, index size >> b minus one), and the hashes of the
# events after it. The tree's size is the number of leaves, so the peaks follow from it.
_READ = """
WITH s AS (SELECT coalesce(max(index) + 1, 0) AS size FROM merkle_nodes WHERE level = 0)
SELECT 0 AS kind, s.size AS a, 0::bigint AS b, NULL::bytea AS h FROM s
UNION ALL
SELECT 1, -p.level, p.index,  -- largest first; a missing node reads as NULL
       (SELECT n.hash FROM merkle_nodes n WHERE n.level = p.level AND n.index = p.index)
  FROM (SELECT bit::smallint AS level, (s.size >> bit) - 1 AS index
          FROM s CROSS JOIN generate_series(0, 62) AS bit
         WHERE (s.size >> bit) & 1 = 1) AS p
UNION ALL
SELECT 2, e.position, 0, decode(e.hash, 'hex')
  FROM s JOIN public.events e
    ON e.position > s.size AND e.position <= least(%(upto)s, s.size + %(chunk)s)
ORDER BY kind, a
"""
_INSERT = (
    "INSERT INTO merkle_nodes (level, index, hash)"
    " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
)
_COPY_FROM = 1_000  # nodes: past this many, COPY them instead


def _write(cur: psycopg.Cursor[Any], completed: list[tuple[Node, bytes]]) -> None:
    if len(completed) <= _COPY_FROM:
        cur.execute(
            _INSERT,
            (
                [n.level for n, _ in completed],
                [n.index for n, _ in completed],
                [h for _, h in completed],
            ),
        )
        return
    with cur.copy("COPY merkle_nodes (level, index, hash) FROM STDIN") as copy:
        for node, h in completed:
            copy.write_row((node.level, node.index, h))


def extend(cur: psycopg.Cursor[Any], upto: int) -> int:
    """Grow the stored tree to the events at positions up to ``upto``; its new size.

    Two round trips per :data:`CHUNK` events: one read (:data:`_READ`), one write."""
    while True:
        rows = cur.execute(_READ, {"upto": upto, "chunk": CHUNK}).fetchall()
        start = int(rows[0][1])
        peaks = [bytes(h) for kind, _, _, h in rows if kind == 1 and h is not None]
        if len(peaks) != start.bit_count():
            raise TreeBroken(f"the tree's table lacks a peak of the tree of {start} leaves")
        if start >= upto:
            return start
        tree = CompactRange(start, peaks)
        completed: list[tuple[Node, bytes]] = []
        for kind, position, _, data in rows:
            if kind != 2:
                continue
            if position != tree.size + 1:
                raise TreeBroken(f"position {tree.size + 1} is missing from the events")
            completed.extend(tree.append(leaf_hash(bytes(data))))
        if tree.size != min(upto, start + CHUNK):
            raise TreeBroken(f"position {tree.size + 1} is missing from the events")
        _write(cur, completed)
        if tree.size >= upto:
            return tree.size
