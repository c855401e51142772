"""merkle_nodes and tree_checkpoints: the RFC 9162 Merkle tree over the events, and the
signed checkpoints issued of it (issue 18, docs/proofs.md).

``merkle_nodes`` holds every *complete* subtree of the tree: the 2^level leaves from
index · 2^level, level 0 being the leaves (leaf i = the event at position i + 1, its hash
SHA-256(0x00 ‖ the event's 32-byte hash)). Such a node never changes once written, so the
table is append-only; every hash a proof needs is one of them or the fold of at most log2 n
of them (ledger/domain/merkle.py). The projector extends it in the transaction that projects
the events (ledger/store/tree.py), so it is derived data like the read models: ``ledger
projections rebuild`` builds it afresh.

``tree_checkpoints`` keeps every checkpoint ever issued (its tree size, root and the signed
note): not derived, never rebuilt, never deleted by the service.

The tree of an existing ledger is built here, in SQL, one level per statement (about 2 n
SHA-256 in all; each level's count is logged). Positions are gapless 1..N (SPEC section 5);
the build refuses a ledger where they are not.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

CREATE = """
CREATE TABLE merkle_nodes (
    level  smallint NOT NULL CHECK (level >= 0 AND level < 63),
    index  bigint   NOT NULL CHECK (index >= 0),
    hash   bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);
COMMENT ON TABLE merkle_nodes IS
    'Every complete subtree of the RFC 9162 tree over the events: 2^level leaves from index * 2^level.';
CREATE TABLE tree_checkpoints (
    tree_size  bigint      PRIMARY KEY CHECK (tree_size >= 0),
    root_hash  bytea       NOT NULL CHECK (length(root_hash) = 32),
    note       text        NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE tree_checkpoints IS
    'Every signed checkpoint (C2SP tlog-checkpoint note) the ledger issued, by tree size.';
"""

LEAVES = """
INSERT INTO merkle_nodes (level, index, hash)
SELECT 0, position - 1, sha256('\\x00'::bytea || decode(hash, 'hex')) FROM events
"""

LEVEL = """
INSERT INTO merkle_nodes (level, index, hash)
SELECT :level + 1, a.index / 2, sha256('\\x01'::bytea || a.hash || b.hash)
  FROM merkle_nodes a
  JOIN merkle_nodes b ON b.level = :level AND b.index = a.index + 1
 WHERE a.level = :level AND a.index % 2 = 0
"""


def _grants(role: str) -> str:
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON merkle_nodes TO "{role}";
        GRANT SELECT, INSERT ON tree_checkpoints TO "{role}";
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(CREATE)
    if role := context.config.attributes.get("app_role", "ledger_app"):
        op.execute(_grants(role))
    bind = op.get_bind()
    count, head = bind.execute(
        sa.text("SELECT count(*), coalesce(max(position), 0) FROM events")
    ).one()
    if count != head:
        raise RuntimeError(
            f"positions are not gapless ({count} events, head {head}): the tree needs 1..N"
        )
    if not count:
        return
    nodes = bind.execute(sa.text(LEAVES)).rowcount
    log.info("merkle tree: %s leaves", nodes)
    level = 0
    while nodes > 1:
        nodes = bind.execute(sa.text(LEVEL), {"level": level}).rowcount
        level += 1
        log.info("merkle tree: level %s, %s nodes", level, nodes)
    op.execute("ANALYZE merkle_nodes")


def downgrade() -> None:
    op.execute("DROP TABLE tree_checkpoints")
    op.execute("DROP TABLE merkle_nodes")
