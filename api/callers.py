"""Who is calling: the API key a request (or websocket) presents, checked on every request so
that a revoked key is refused at once. One rule for every route: an unknown or revoked key is
401; in production, so is no key. A database that cannot be reached to look the key up is 503,
retryable (never a 500); with standbys (``LEDGER_READ_DATABASE_URL``) keys are looked up
there, so reads go on while the primary is away (a revocation then takes effect once the
standby has replayed it, normally within milliseconds)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException

from ledger.domain.errors import DatabaseUnavailable
from ledger.runtime import Ledger
from ledger.store.driver_errors import translated
from ledger.store.keys import ApiKey, key_of


def presented_key(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return headers.get("x-api-key") or None


def key_in_payload(payload: object) -> str | None:
    """A key sent in a websocket's ``connection_init`` payload (a browser's WebSocket cannot
    set handshake headers): ``{"Authorization": "Bearer <key>"}`` or ``{"X-API-Key": <key>}``,
    at the top or under ``"headers"`` (as Apollo's and Hasura's clients send it); any case."""
    if not isinstance(payload, Mapping):
        return None
    nested: Any = payload.get("headers")
    for source in (payload, nested if isinstance(nested, Mapping) else {}):
        named = {str(k).lower(): v for k, v in source.items() if isinstance(v, str)}
        if key := presented_key(named):
            return key
    return None


async def caller(ledger: Ledger, headers: Mapping[str, str]) -> ApiKey | None:
    """The caller's key; None for an anonymous caller where that is allowed (local mode)."""
    return await caller_of(ledger, presented_key(headers))


async def caller_of(ledger: Ledger, key: str | None) -> ApiKey | None:
    """The one rule, whichever way the key came (headers, or a websocket's first message)."""
    found = await asyncio.to_thread(_look_up, ledger, key) if key else None
    if key and found is None:
        raise NotAuthorizedException(
            "this API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="deal-ledger", error="invalid_token"'},
        )
    if ledger.settings.production and found is None:
        raise NotAuthorizedException(
            "an API key is required: Authorization: Bearer <key> (`ledger keys create`)"
        )
    return found


def _look_up(ledger: Ledger, key: str) -> ApiKey | None:
    engine = ledger.engine if ledger.read_primary is None else ledger.snapshots
    try:
        with translated():
            return key_of(engine, key)
    except DatabaseUnavailable as exc:
        raise ServiceUnavailableException(
            f"the database is unavailable; ask again shortly ({exc})",
            headers={"Retry-After": "1"},
        ) from None
