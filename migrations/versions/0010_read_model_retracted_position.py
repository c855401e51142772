"""retracted_position: a retraction stamps the position of its EventRetracted, not only its time.

Why: an answer may be asked as of a prefix of the log (``atPosition``, an auditor's digest),
not only at a knowledge time. A row is visible at position P when its own ``position <= P``
and it was not retracted at a position ``<= P``; ``retracted_at`` alone cannot say that for a
P inside the run of events that share one ``recorded_at`` (a batch), nor for a P earlier than
a retraction recorded before ``knownAt``. Filled here from the events table for the rows the
read models hold; the projection sets both columns together from now on (a check keeps them
so).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RETRACTABLE = ("rm_entities", "rm_valuations", "rm_revenues", "rm_deal_events", "rm_tranches")

# The first retraction of an event counts, as in the projection.
BACKFILL = """
UPDATE {table} t SET retracted_position = r.position
  FROM (SELECT DISTINCT ON (target) target, position
          FROM (SELECT (e.data ->> 'target_event_id')::uuid AS target, e.position
                  FROM events e WHERE e.type = 'EventRetracted') AS x
         ORDER BY target, position) AS r
 WHERE t.event_id = r.target AND t.retracted_at IS NOT NULL
"""


def upgrade() -> None:
    for table in RETRACTABLE:
        op.execute(f"ALTER TABLE {table} ADD COLUMN retracted_position bigint")
        op.execute(BACKFILL.format(table=table))
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_retracted_together "
            "CHECK ((retracted_at IS NULL) = (retracted_position IS NULL))"
        )
        op.execute(
            f"COMMENT ON COLUMN {table}.retracted_position IS "
            "'The position of the EventRetracted that removed the row, if any.'"
        )


def downgrade() -> None:
    for table in RETRACTABLE:
        op.execute(f"ALTER TABLE {table} DROP COLUMN retracted_position")
