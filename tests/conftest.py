"""Where the tests get PostgreSQL, and how each test gets a database of its own.

Order of preference: testcontainers when a Docker engine answers, else the server named by
``LEDGER_TEST_DATABASE_URL`` (a superuser URL), else an embedded PostgreSQL 18 from the wheel,
one per test worker. Each worker migrates a template database once; every test that touches
data gets a fresh copy of it (``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ledger.store import EventStore, migrate
from ledger.store.engine import make_engine

APP_ROLE = "ledger_app"


def _docker_available() -> bool:
    if os.environ.get("LEDGER_TEST_DATABASE_URL"):
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, for psycopg and subprocesses."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser URL to the maintenance database of the PostgreSQL the tests use."""
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:18", driver=None) as container:
            yield with_database(container.get_connection_url(), "postgres")
    elif url := os.environ.get("LEDGER_TEST_DATABASE_URL"):
        yield url
    else:
        from ledger.store.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded")).start()
        try:
            yield server.url("postgres")
        finally:
            server.stop()


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head, copied for each test: one migration run per worker."""
    name = f"ledger_tpl_{uuid.uuid4().hex[:12]}"
    _admin(pg_admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(with_database(pg_admin_url, name), pool_size=1)
    migrate.upgrade(engine, app_role=APP_ROLE)
    engine.dispose()
    yield name
    _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class TestDatabase:
    """A database of one test's own: URLs for the owner (a superuser) and engines for both roles."""

    __test__ = False
    name: str
    url: str
    owner_engine: Engine
    app_engine: Engine

    @property
    def libpq_url(self) -> str:
        return libpq_url(self.url)


def _fresh_database(pg_admin_url: str, template: str | None) -> Iterator[TestDatabase]:
    name = f"ledger_t_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    _admin(pg_admin_url, f'CREATE DATABASE "{name}"{clause}')
    url = with_database(pg_admin_url, name)
    db = TestDatabase(
        name=name,
        url=url,
        owner_engine=make_engine(url, pool_size=2),
        app_engine=make_engine(url, app_role=APP_ROLE, pool_size=10),
    )
    try:
        yield db
    finally:
        db.owner_engine.dispose()
        db.app_engine.dispose()
        _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(pg_admin_url: str, template_database: str) -> Iterator[TestDatabase]:
    """A migrated database of this test's own."""
    yield from _fresh_database(pg_admin_url, template_database)


@pytest.fixture
def second_database(pg_admin_url: str, template_database: str) -> Iterator[TestDatabase]:
    """Another migrated database, for tests that move a ledger from one to the other."""
    yield from _fresh_database(pg_admin_url, template_database)


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[TestDatabase]:
    """A database with no schema at all, for migration tests."""
    yield from _fresh_database(pg_admin_url, None)


@pytest.fixture
def store(database: TestDatabase) -> EventStore:
    """The event store as the service uses it: acting as the restricted app role."""
    return EventStore(database.app_engine)
