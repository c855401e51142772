"""Run the Alembic migrations in ``migrations/`` programmatically (``ledger db upgrade``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

import migrations

from ..domain.errors import ValidationError

SCRIPT_LOCATION = Path(migrations.__file__).parent


def _config(engine: Engine, app_role: str, connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["app_role"] = app_role
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head", app_role: str = "ledger_app") -> None:
    with _revision_named(revision), engine.begin() as conn:
        command.upgrade(_config(engine, app_role, conn), revision)


def downgrade(engine: Engine, revision: str, app_role: str = "ledger_app") -> None:
    with _revision_named(revision), engine.begin() as conn:
        command.downgrade(_config(engine, app_role, conn), revision)


@contextmanager
def _revision_named(revision: str) -> Iterator[None]:
    """Alembic's refusal of a revision (unknown, or not reachable from here) as a bad argument."""
    try:
        yield
    except CommandError as exc:
        raise ValidationError("revision", f"{revision!r}: {exc}") from None


def head_revision() -> str:
    script = ScriptDirectory.from_config(_config(None, ""))  # type: ignore[arg-type]
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
