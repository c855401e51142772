"""Wiring: from ``Settings`` to a running ledger (database, engines, store).

This is the one place that decides between the embedded server and a named one, and the one
place that runs migrations on start, so the CLI and the web app start the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from .domain.errors import LedgerError
from .settings import Settings
from .store import migrate
from .store.embedded import EmbeddedPostgres
from .store.engine import make_engine
from .store.event_store import EventStore


class SchemaNotCurrent(LedgerError):
    """The database's schema is not the one this code expects."""


@dataclass
class Ledger:
    settings: Settings
    owner_engine: Engine
    engine: Engine
    store: EventStore
    embedded: EmbeddedPostgres | None = None

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)


def check_schema(engine: Engine) -> None:
    current = migrate.current_revision(engine)
    expected = migrate.head_revision()
    if current != expected:
        raise SchemaNotCurrent(
            f"the database schema is at revision {current or 'none (empty database)'}, "
            f"this ledger needs {expected}: run `ledger db upgrade`"
        )


@contextmanager
def open_ledger(settings: Settings, *, migrate_on_start: bool | None = None) -> Iterator[Ledger]:
    """Start (or connect to) PostgreSQL, migrate if asked, and yield the wired ledger."""
    embedded = None
    if settings.embedded:
        embedded = EmbeddedPostgres(settings.data_dir).start()
        owner_url = embedded.owner_url
        app_url = embedded.app_url(settings.app_role)
    else:
        assert settings.database_url is not None
        owner_url = settings.owner_database_url or settings.database_url
        app_url = settings.database_url
    owner_engine = make_engine(owner_url, pool_size=1)
    engine = None
    try:
        should_migrate = (
            settings.should_migrate_on_start if migrate_on_start is None else migrate_on_start
        )
        if should_migrate:
            migrate.upgrade(owner_engine, app_role=settings.app_role)
        engine = make_engine(
            app_url,
            app_role=settings.app_role or None,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        check_schema(engine)
        yield Ledger(
            settings=settings,
            owner_engine=owner_engine,
            engine=engine,
            store=EventStore(engine, max_event_bytes=settings.max_event_bytes),
            embedded=embedded,
        )
    finally:
        if engine is not None:
            engine.dispose()
        owner_engine.dispose()
        if embedded is not None:
            embedded.stop()
