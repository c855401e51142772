"""Read-model amounts keep the scale they were given: ``numeric`` instead of ``numeric(38,8)``.

With a fixed scale of 8, $100B came back as ``100000000000.00000000`` and every reader had to
trim it (in Python, at a cost per value). The projection writes the events' canonical decimal
text, so an unconstrained ``numeric`` stores exactly that and reads back as it was written.
Derived data: the tables are rewritten in place, no rebuild needed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "rm_valuations": ("valuation_usd", "round_size_usd"),
    "rm_revenues": ("revenue_usd", "net_income_usd", "cash_burn_usd", "rnd_usd", "cash_usd"),
    "rm_deal_legs": ("headline_usd", "committed_usd", "capacity_gw", "shares"),
    "rm_tranches": ("amount_usd",),
}


def _alter(type_: str) -> None:
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE {type_}" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    # trim_scale: rows projected before this migration carry eight decimals.
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE numeric USING trim_scale({c})" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def downgrade() -> None:
    _alter("numeric(38,8)")
