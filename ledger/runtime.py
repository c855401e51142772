"""Wiring: from ``Settings`` to a running ledger (database, engines, store, projector).

The one composition root. It alone decides between the embedded server and a named one,
runs migrations on start, builds the projector, and says what another process needs to
share this ledger's database (``Ledger.shared_settings``); so the CLI, the web app and its
workers start the same way and no caller re-derives any of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from .domain.checkpoint import SigningKey, VerifierKey
from .domain.errors import LedgerError
from .projections.projector import Projector
from .settings import Settings
from .signing import signing_keys
from .store import migrate
from .store.driver_errors import translated
from .store.embedded import EmbeddedPostgres
from .store.engine import libpq_url, make_engine
from .store.event_store import EventStore


class SchemaNotCurrent(LedgerError):
    """The database's schema is not the one this code expects."""


@dataclass
class Ledger:
    settings: Settings
    owner_engine: Engine
    engine: Engine
    store: EventStore
    # The connections GraphQL requests hold their snapshot on, across awaits, apart from the
    # pool that writes, the projector and the store's reads draw on: so holders can never take
    # the connections those need while they wait for a worker thread (None: share ``engine``).
    snapshot_engine: Engine | None = None
    # The key that signs checkpoints (LEDGER_CHECKPOINT_KEY_FILE; None: none are issued).
    signing_key: SigningKey | None = None
    retired_keys: tuple[VerifierKey, ...] = ()  # vkeys of keys it replaced, newest first

    @property
    def snapshots(self) -> Engine:
        return self.snapshot_engine or self.engine

    @property
    def read_primary(self) -> Engine | None:
        """Where a question served by a standby takes its basis (``queries._standby``); None
        when questions are served where the appends are."""
        read_url = getattr(self.settings, "read_database_url", None)  # tests may wire no settings
        return self.engine if read_url else None

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    def projector(self, *, batch_size: int = 10_000) -> Projector:
        """The projector of this ledger's read models (one per database works at a time,
        however many are built: see ``Projector``)."""
        return Projector(
            self.engine, self.store, batch_size=batch_size, signing_key=self.signing_key
        )

    def shared_settings(self) -> Settings:
        """Settings under which another process (a ``serve --workers`` worker) opens this
        same database as it is now: already started, migrated and seeded, so it does none
        of that again. An embedded server is named by its URL, so the worker connects to it
        rather than starting one of its own."""
        owner_url = libpq_url(self.owner_engine)
        return dataclasses.replace(
            self.settings,
            database_url=owner_url if self.settings.embedded else self.settings.database_url,
            owner_database_url=owner_url,
            migrate_on_start=False,
            seed_on_start=False,
        )


def check_schema(engine: Engine) -> None:
    current = migrate.current_revision(engine)
    expected = migrate.head_revision()
    if current != expected:
        raise SchemaNotCurrent(
            f"the database schema is at revision {current or 'none (empty database)'}, "
            f"this ledger needs {expected}: run `ledger db upgrade`"
        )


@contextmanager
def _server(settings: Settings) -> Iterator[tuple[str, str]]:
    """The (owner URL, app URL) of the ledger's server, starting the embedded one if no
    server is named (and stopping it after)."""
    if not settings.embedded:
        assert settings.database_url is not None
        yield settings.owner_database_url or settings.database_url, settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir).start()
    try:
        yield embedded.owner_url, embedded.app_url(settings.app_role)
    finally:
        embedded.stop()


@contextmanager
def open_owner_engine(settings: Settings) -> Iterator[Engine]:
    """An engine of the schema owner alone, for ``ledger db``: migrations never run as the
    app role, and need no check that the schema is current. What the database refuses in
    the block is raised as the core's ``DatabaseRefused`` (or ``DatabaseUnavailable``)."""
    with _server(settings) as (owner_url, _):
        engine = make_engine(owner_url, pool_size=1)
        try:
            with translated(refusals=True):
                yield engine
        finally:
            engine.dispose()


@contextmanager
def open_ledger(settings: Settings, *, migrate_on_start: bool | None = None) -> Iterator[Ledger]:
    """Start (or connect to) PostgreSQL, migrate if asked, and yield the wired ledger.

    A database that cannot be reached, here or in the block, is raised as the core's
    ``DatabaseUnavailable``, so no caller needs to know the driver."""
    should_migrate = (
        settings.should_migrate_on_start if migrate_on_start is None else migrate_on_start
    )
    with _server(settings) as (owner_url, app_url), translated():
        # The embedded default makes its own key on the first start.
        key, retired = signing_keys(settings) or (None, ())
        owner_engine = make_engine(owner_url, pool_size=1)
        engine = snapshot_engine = None
        try:
            if should_migrate:
                migrate.upgrade(owner_engine, app_role=settings.app_role)
            engine = make_engine(
                app_url,
                app_role=settings.app_role or None,
                statement_timeout_ms=settings.statement_timeout_ms,
            )
            check_schema(engine)
            # Questions may be served by standbys (LEDGER_READ_DATABASE_URL); their basis is
            # still taken where the appends are (``queries._standby``).
            snapshot_engine = make_engine(
                settings.read_database_url or app_url,
                app_role=settings.app_role or None,
                statement_timeout_ms=settings.statement_timeout_ms,
                setting="LEDGER_READ_DATABASE_URL"
                if settings.read_database_url
                else "LEDGER_DATABASE_URL",
            )
            yield Ledger(
                settings=settings,
                owner_engine=owner_engine,
                engine=engine,
                store=EventStore(engine, max_event_bytes=settings.max_event_bytes),
                snapshot_engine=snapshot_engine,
                signing_key=key,
                retired_keys=retired,
            )
        finally:
            if snapshot_engine is not None:
                snapshot_engine.dispose()
            if engine is not None:
                engine.dispose()
            owner_engine.dispose()
