"""The ``ledger`` command: an adapter that maps the core's errors to messages and exit codes.

Exit codes: 0 success, 1 the ledger answered "no" (a broken chain, a missing digest, a
failed operation), 2 the command was used wrongly (bad option or setting).

This module holds what every command shares (the group ``main``, ``with_ledger``, ``fail``,
``INSTANT``, ``progress``); each command group lives in a module of its own. Commands of
other packages join through the ``ledger.commands`` entry point group (the web app's
``serve``, in ``api/serve.py``), so the core never imports the web app.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from importlib.metadata import entry_points
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..domain.errors import LedgerError, ValidationError
from ..runtime import open_ledger
from ..settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)

PLUGINS = "ledger.commands"  # entry point group: commands other packages add to `ledger`


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ValidationError as exc:
        fail(f"setting {exc}", 2)
        raise  # unreachable


def with_ledger(func: F) -> F:
    """Open the ledger for the command and turn the core's errors into clear messages."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = settings_from_env()
        try:
            with open_ledger(settings) as ledger:
                return func(ledger, *args, **kwargs)
        except ValidationError as exc:
            fail(str(exc), 2)
        except LedgerError as exc:
            fail(str(exc))
        except Exception as exc:  # an operational failure: say what, not a traceback
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                fail(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")
            raise

    return wrapper  # type: ignore[return-value]


def progress(total: int, label: str = "verifying") -> tuple[Progress, Callable[[int], None]]:
    """A progress bar on stderr (hidden when stderr is not a terminal) and its update function."""
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task(label, total=total)
    return bar, lambda done, total=total: bar.update(task, completed=done, total=total)


class InstantType(click.ParamType):
    """An ISO-8601 date or date-time with a timezone (a bare date is its 00:00 UTC)."""

    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from ..domain.instants import parse_instant

        if not isinstance(value, str):
            return value
        try:
            return parse_instant(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


INSTANT = InstantType()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deal-ledger")
def main() -> None:
    """The deal ledger: an immutable, bitemporal record of the AI boom's deal web.

    With no LEDGER_DATABASE_URL every command uses the embedded PostgreSQL in the user's
    data directory, starting it if needed.
    """


def _compose() -> None:
    """Every command group joins ``main`` here, the core's own and then the plugins'."""
    from . import analysis, chain, config, db, keys, projections, synth, transfer

    for module in (chain, db, transfer, analysis, projections, keys, synth, config):
        for command in module.COMMANDS:
            main.add_command(command)
    for entry in entry_points(group=PLUGINS):
        main.add_command(entry.load(), entry.name)


_compose()
