"""``ledger db``: schema migrations (Alembic), always as the schema owner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..settings import Settings
from . import fail, settings_from_env


@click.group()
def db() -> None:
    """Manage the database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from ..store import migrate

    settings = settings_from_env()
    _with_owner_engine(
        settings, lambda engine: migrate.upgrade(engine, revision, settings.app_role)
    )
    click.echo(f"database at revision {_current(settings)}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes everything, if the ledger is empty)."""
    from ..store import migrate

    settings = settings_from_env()
    _with_owner_engine(
        settings, lambda engine: migrate.downgrade(engine, revision, settings.app_role)
    )
    click.echo(f"database at revision {_current(settings) or 'base'}")


@db.command()
def current() -> None:
    """Print the database's schema revision and the newest one this code knows."""
    from ..store import migrate

    settings = settings_from_env()
    click.echo(f"current: {_current(settings) or 'base'}")
    click.echo(f"head:    {migrate.head_revision()}")


def _with_owner_engine(settings: Settings, action: Callable[[Any], Any]) -> Any:
    """Run ``action`` on an engine of the schema owner: migrations never run as the app role."""
    from sqlalchemy.exc import DBAPIError

    from ..store.embedded import EmbeddedPostgres
    from ..store.engine import make_engine

    embedded = EmbeddedPostgres(settings.data_dir).start() if settings.embedded else None
    url = embedded.owner_url if embedded else (settings.owner_database_url or settings.database_url)
    engine = make_engine(url, pool_size=1)  # type: ignore[arg-type]
    try:
        return action(engine)
    except DBAPIError as exc:
        fail(str(exc.orig).strip().splitlines()[0])
    finally:
        engine.dispose()
        if embedded is not None:
            embedded.stop()


def _current(settings: Settings) -> str | None:
    from ..store import migrate

    return _with_owner_engine(settings, migrate.current_revision)


COMMANDS = (db,)
