"""Read models answer per-entity questions by index, and keep a deal's conditions and reasons.

An entity's exposures touch only the legs where it pays or is paid: two indexes find those
legs without reading every deal. ``conditions`` (of an announcement) and ``reason`` (of an
amendment or termination) are what a deal's page shows; existing rows get theirs from the
events here, new ones from the projection.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX rm_deal_legs_by_payer ON rm_deal_legs (payer)")
    op.execute("CREATE INDEX rm_deal_legs_by_payee ON rm_deal_legs (payee)")
    op.execute("ALTER TABLE rm_deal_events ADD COLUMN conditions text, ADD COLUMN reason text")
    op.execute(
        """
        UPDATE rm_deal_events d
           SET conditions = e.data ->> 'conditions', reason = e.data ->> 'reason'
          FROM events e
         WHERE e.event_id = d.event_id
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE rm_deal_events DROP COLUMN conditions, DROP COLUMN reason")
    op.execute("DROP INDEX rm_deal_legs_by_payee")
    op.execute("DROP INDEX rm_deal_legs_by_payer")
