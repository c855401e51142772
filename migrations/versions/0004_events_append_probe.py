"""events_append() finds a retried event id through the index, not by reading the whole table.

0002's retry check joined the batch's ids (``jsonb_array_elements``, which the planner guesses
at 100 rows) to ``events``; the planner chose a hash semi-join over a sequential scan of the
table, so every append cost time in proportion to the size of the ledger. The ids are now
collected into a ``uuid[]`` first and looked up with ``event_id = ANY(...)``: one probe of
``events_event_id_key`` per id, whatever the size of the table. Everything else in the function
is unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_previous = importlib.import_module("migrations.versions.0002_events_append")

_OLD_PROBE = """    IF EXISTS (SELECT FROM events e
                WHERE e.event_id IN (SELECT (d.e ->> 'event_id')::uuid
                                       FROM jsonb_array_elements(p_events) AS d(e))) THEN"""

_NEW_PROBE = """    IF EXISTS (SELECT FROM events e
                WHERE e.event_id = ANY (ARRAY(SELECT (d.e ->> 'event_id')::uuid
                                                FROM jsonb_array_elements(p_events) AS d(e))))
    THEN"""


def _replace_function(body: str) -> str:
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _with_index_probe() -> str:
    if _OLD_PROBE not in _previous.CREATE_FUNCTION:
        raise RuntimeError("migration 0004 no longer matches the function of migration 0002")
    return _replace_function(_previous.CREATE_FUNCTION.replace(_OLD_PROBE, _NEW_PROBE, 1))


def upgrade() -> None:
    op.execute(_with_index_probe())


def downgrade() -> None:
    op.execute(_replace_function(_previous.CREATE_FUNCTION))
