"""The valid time the projected history covers: the range of a time slider."""

from __future__ import annotations

from sqlalchemy import Engine

from ..domain.views import Span
from ._snapshot import reading


def span(engine: Engine) -> Span | None:
    """The valid time of everything projected (None for an empty ledger): one row the
    projection keeps, however long the history."""
    with reading(engine) as conn:
        row = conn.exec_driver_sql(
            "SELECT first_effective_at, first_activity_at, last_effective_at FROM rm_span"
        ).first()
    return Span(*row) if row else None
