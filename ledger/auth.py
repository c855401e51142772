"""Who may do what: roles, and API keys stored only as hashes.

Roles (spec section 4): a **reader** asks questions, a **writer** also records events, an
**auditor** also reads the raw event log. Keys are 32 random bytes, shown once when created;
the database keeps their SHA-256 (a key is random, so a plain hash cannot be guessed back
and lets a lookup use an index).
"""

from __future__ import annotations

import hashlib
import secrets

ROLES = ("reader", "writer", "auditor")
KEY_PREFIX = "ldg_"

# action -> roles allowed
PERMISSIONS = {
    "read": frozenset(ROLES),
    "write": frozenset({"writer"}),
    "audit": frozenset({"auditor"}),
}


def allowed(role: str | None, action: str) -> bool:
    return role is not None and role in PERMISSIONS[action]


def may(action: str, role: str | None, *, production: bool) -> bool:
    """The one rule of every edge (GraphQL, websockets, /export): locally, reads (audits
    included) are open and writes need a writer's key; in production every action needs a
    key with the right role."""
    if action in ("read", "audit") and not production:
        return True
    return allowed(role, action)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
