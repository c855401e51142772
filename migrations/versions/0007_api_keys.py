"""API keys: stored as SHA-256 hashes, each with a role; revoked, never deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_keys (
            id          uuid        PRIMARY KEY,
            name        text        NOT NULL,
            role        text        NOT NULL CHECK (role IN ('reader', 'writer', 'auditor')),
            key_hash    text        NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
            created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            revoked_at  timestamptz
        )
        """
    )
    role = context.config.attributes.get("app_role", "ledger_app")
    if not role:
        return
    # The service only checks keys; creating and revoking them is the owner's business (CLI).
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                GRANT SELECT ON api_keys TO "{role}";
            END IF;
        END
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
