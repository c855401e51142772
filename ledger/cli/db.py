"""``ledger db``: schema migrations (Alembic), always as the schema owner."""

from __future__ import annotations

import click

from ..runtime import open_owner_engine
from ..store import migrate
from . import settings_from_env, translated_errors


@click.group()
def db() -> None:
    """Manage the database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
@translated_errors
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_from_env()
    with open_owner_engine(settings) as engine:
        migrate.upgrade(engine, revision, settings.app_role)
        click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command()
@click.argument("revision")
@translated_errors
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes everything, if the ledger is empty)."""
    settings = settings_from_env()
    with open_owner_engine(settings) as engine:
        migrate.downgrade(engine, revision, settings.app_role)
        click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db.command()
@translated_errors
def current() -> None:
    """Print the database's schema revision and the newest one this code knows."""
    with open_owner_engine(settings_from_env()) as engine:
        click.echo(f"current: {migrate.current_revision(engine) or 'base'}")
    click.echo(f"head:    {migrate.head_revision()}")


COMMANDS = (db,)
