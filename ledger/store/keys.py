"""API keys in PostgreSQL: create and revoke as the owner, look up as the service."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, text

from ..auth import ROLES, key_hash, new_key
from ..domain.errors import NotFound, ValidationError


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    name: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def create_key(owner_engine: Engine, role: str, name: str) -> tuple[ApiKey, str]:
    """A new key: its record, and the key itself (shown once, stored only as a hash)."""
    if role not in ROLES:
        raise ValidationError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    key = new_key()
    with owner_engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO api_keys (id, name, role, key_hash) VALUES (:id, :name, :role, :h) "
                "RETURNING id, name, role, created_at, revoked_at"
            ),
            {"id": uuid.uuid4(), "name": name, "role": role, "h": key_hash(key)},
        ).one()
    return ApiKey(*row), key


def list_keys(engine: Engine) -> list[ApiKey]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at")
        )
        return [ApiKey(*row) for row in rows]


def revoke_key(owner_engine: Engine, key_id: str) -> ApiKey:
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise ValidationError("id", f"{key_id!r} is not a key id (a UUID)") from None
    with owner_engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp()) "
                "WHERE id = :id RETURNING id, name, role, created_at, revoked_at"
            ),
            {"id": parsed},
        ).one_or_none()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return ApiKey(*row)


def key_of(engine: Engine, key: str) -> ApiKey | None:
    """The record of a valid, unrevoked key; None for anything else. Looked up on every
    request, so a revoked key is refused at once."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, name, role, created_at, revoked_at FROM api_keys "
                "WHERE key_hash = :h AND revoked_at IS NULL"
            ),
            {"h": key_hash(key)},
        ).one_or_none()
    return ApiKey(*row) if row else None
