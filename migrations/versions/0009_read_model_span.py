"""rm_span: the valid-time span of the projected history, kept by the projection.

Why: a dashboard's time slider needs the earliest and latest ``effective_at`` of the ledger,
and the earliest one of an event other than a registration (before it the web has no edges).
The events table has no index on ``effective_at``, and adding one would cost every append;
so the projection keeps the three instants in one row, moved by least()/greatest() as events
are projected: a lookup of one row whatever the size of the ledger. Filled here from the
events the read models already hold.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import context, op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CREATE = """
CREATE TABLE rm_span (
    id                 boolean     PRIMARY KEY DEFAULT true CHECK (id),
    first_effective_at timestamptz NOT NULL,
    first_activity_at  timestamptz,
    last_effective_at  timestamptz NOT NULL
);
COMMENT ON TABLE rm_span IS
  'One row: the earliest and latest effective_at projected, and the earliest of an event '
  'other than EntityRegistered.';

INSERT INTO rm_span (first_effective_at, first_activity_at, last_effective_at)
SELECT min(e.effective_at), min(e.effective_at) FILTER (WHERE e.type <> 'EntityRegistered'),
       max(e.effective_at)
  FROM events e
 WHERE e.position <= (SELECT position FROM projection_checkpoints WHERE name = 'read_models')
HAVING count(*) > 0;
"""


def _grants(role: str) -> str:
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON rm_span TO "{role}";
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(CREATE)
    if role := context.config.attributes.get("app_role", "ledger_app"):
        op.execute(_grants(role))


def downgrade() -> None:
    op.execute("DROP TABLE rm_span")
