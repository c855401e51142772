"""The valid time the projected history covers: the range of a time slider."""

from __future__ import annotations

from ..domain.views import Span
from ._snapshot import Source, reading


def span(source: Source) -> Span | None:
    """The valid time of everything projected (None for an empty ledger): one row the
    projection keeps, however long the history."""
    with reading(source) as conn:
        row = conn.exec_driver_sql(
            "SELECT first_effective_at, first_activity_at, last_effective_at FROM rm_span"
        ).first()
    return Span(*row) if row else None
