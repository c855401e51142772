"""Alembic environment: runs on the connection that ``ledger.store.migrate`` hands it.

The app role's name comes in through ``config.attributes`` so that the migrations grant it
exactly SELECT and INSERT on the events table.
"""

from __future__ import annotations

from alembic import context

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `ledger db upgrade`, which supplies the connection"
        )
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use `ledger db upgrade`")
run_migrations_online()
