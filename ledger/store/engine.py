"""Engines for the two identities the ledger uses: the schema owner and the service role.

The service acts as ``LEDGER_APP_ROLE`` (set at connection start-up, so even a superuser login
is reduced to SELECT and INSERT on ``events``); migrations run as the owner.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from ..domain.errors import ValidationError


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs and pin the psycopg 3 driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise ValidationError(
            "LEDGER_DATABASE_URL",
            f"the ledger needs PostgreSQL, got a {parsed.get_backend_name()} URL",
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def make_engine(
    url: str,
    *,
    app_role: str | None = None,
    pool_size: int = 5,
    statement_timeout_ms: int | None = None,
) -> Engine:
    """An engine on ``url`` whose sessions run in UTC, acting as ``app_role`` when one is given.

    The pool does not ping a connection before lending it: that is a round trip on every
    append, a tenth of its time. A connection that died while idle (a server restart) fails
    its next use instead; ``EventStore.append`` then retries once on a fresh connection, which
    is safe because a repeated append is recognised by its event ids.
    """
    options = ["-c timezone=UTC"]
    if app_role:
        options.append(f"-c role={app_role}")
    if statement_timeout_ms:  # so no single query can hold the server
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    return create_engine(
        normalise_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"options": " ".join(options), "application_name": "deal-ledger"},
    )


def listen_url(engine: Engine) -> str:
    """A libpq URL for the engine's server, for connections made outside its pool (LISTEN)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
