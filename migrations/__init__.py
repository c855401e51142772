"""Alembic migrations: the only place the ledger's schema is created or changed."""
