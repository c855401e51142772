"""Engines for the two identities the ledger uses: the schema owner and the service role.

The service acts as ``LEDGER_APP_ROLE`` (set at connection start-up, so even a superuser login
is reduced to SELECT and INSERT on ``events``); migrations run as the owner.

URLs are libpq's, given to libpq as they are: so both multi-host forms a replicated
deployment uses (``postgresql://u@h1:p1,h2:p2/db?target_session_attrs=read-write`` and
``?host=h1,h2&port=p1,p2``) work, which SQLAlchemy's URL parser refuses. SQLAlchemy only
pools the connections psycopg makes (``creator``); the URL is kept beside the engine for
the connections made outside its pool (``LISTEN``) and for display.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy import Engine, create_engine

from ..domain.errors import ValidationError

_SCHEMES = ("postgresql://", "postgres://")
_URLS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def normalise_url(url: str, setting: str = "LEDGER_DATABASE_URL") -> str:
    """The libpq URL of ``url``: ``postgres://`` and SQLAlchemy's ``postgresql+driver://``
    become ``postgresql://``; anything that is not PostgreSQL, or that libpq cannot parse, is
    refused naming ``setting``."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise ValidationError(setting, "expected a postgresql:// URL")
    backend = scheme.split("+", 1)[0]
    if backend not in ("postgresql", "postgres"):
        raise ValidationError(setting, f"the ledger needs PostgreSQL, got a {backend} URL")
    libpq = "postgresql://" + rest
    try:
        conninfo_to_dict(libpq)
    except psycopg.ProgrammingError as exc:
        raise ValidationError(setting, f"not a libpq URL: {exc}") from None
    return libpq


def make_engine(
    url: str,
    *,
    app_role: str | None = None,
    pool_size: int = 5,
    statement_timeout_ms: int | None = None,
    setting: str = "LEDGER_DATABASE_URL",
) -> Engine:
    """An engine on ``url`` whose sessions run in UTC, acting as ``app_role`` when one is given.

    The pool does not ping a connection before lending it: that is a round trip on every
    append, a tenth of its time. A connection that died while idle (a server restart, a
    failover) fails its next use instead, and SQLAlchemy then discards the whole pool, so
    the next connection is made afresh -- to the new primary, with a multi-host URL.
    ``EventStore.append`` retries once on a fresh connection, which is safe because a
    repeated append is recognised by its event ids.
    """
    libpq = normalise_url(url, setting)
    options = ["-c timezone=UTC"]
    if app_role:
        options.append(f"-c role={app_role}")
    if statement_timeout_ms:  # so no single query can hold the server
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    given = conninfo_to_dict(libpq)
    if given.get("options"):  # the URL's own options (say, -c synchronous_commit=…) stay
        options.insert(0, str(given["options"]))
    conninfo = make_conninfo(
        libpq,
        options=" ".join(options),
        application_name=str(given.get("application_name") or "deal-ledger"),
    )

    def connect() -> Any:
        return psycopg.connect(conninfo)

    engine = create_engine(
        "postgresql+psycopg://", creator=connect, pool_size=pool_size, max_overflow=pool_size
    )
    _URLS[engine] = libpq
    return engine


def libpq_url(engine: Engine) -> str:
    """The libpq URL the engine connects with (for connections made outside its pool)."""
    return _URLS[engine]


# Connections made outside the pool (LISTEN) connect to the same servers the same way.
listen_url = libpq_url


def display_url(engine: Engine) -> str:
    """Where the engine connects, any password hidden, for banners and logs."""
    params = conninfo_to_dict(_URLS[engine])
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)
