"""Who is calling: the API key a request (or websocket) presents, checked on every request so
that a revoked key is refused at once. One rule for every route: an unknown or revoked key is
401; in production, so is no key."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from litestar.exceptions import NotAuthorizedException

from ledger.runtime import Ledger
from ledger.store.keys import ApiKey, key_of


def presented_key(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return headers.get("x-api-key") or None


async def caller(ledger: Ledger, headers: Mapping[str, str]) -> ApiKey | None:
    """The caller's key; None for an anonymous caller where that is allowed (local mode)."""
    key = presented_key(headers)
    found = await asyncio.to_thread(key_of, ledger.engine, key) if key else None
    if key and found is None:
        raise NotAuthorizedException("this API key is unknown or revoked")
    if ledger.settings.production and found is None:
        raise NotAuthorizedException(
            "an API key is required: Authorization: Bearer <key> (`ledger keys create`)"
        )
    return found
