"""The caching horizon: the knowledge time before which the read models' answers are final.

It reads the projector's checkpoint and the ``events`` table, not the read models, which is
why it lives with the projections rather than with the queries (HTTP caching of the past,
``api.caching``, relies on it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from . import statements


@dataclass(frozen=True, slots=True)
class Horizon:
    """What makes an answer final: every answer whose every ``knownAt`` is earlier than
    ``settled_before`` can never change (see ``horizon``); ``genesis`` names the ledger."""

    genesis: str
    settled_before: dt.datetime


def horizon(engine: Engine) -> Horizon | None:
    """The knowledge time before which the read models' answers are final, or None if none is.

    ``recorded_at`` never decreases along the log (the chain-check trigger refuses it), so an
    event not yet recorded -- or recorded but not yet projected -- will carry a ``recorded_at``
    at or after that of the last projected event. Answers asked with ``knownAt`` strictly
    before it are therefore complete and fixed: what HTTP caching of the past relies on.
    """
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT (SELECT hash FROM events WHERE position = 1), e.recorded_at "
            "FROM projection_checkpoints c JOIN events e ON e.position = c.position "
            "WHERE c.name = %(name)s",
            {"name": statements.NAME},
        ).first()
    return Horizon(row[0], row[1]) if row else None
