"""The ``ledger`` command: an adapter that maps the core's errors to messages and exit codes.

Exit codes (``EXIT_CODES``, the one table): 0 success, 1 the ledger answered "no" (a broken
chain, a missing digest, a proof that does not check out, a failed operation, a database
that cannot be reached or refuses), 2 the command was used wrongly (bad option, argument or
setting).

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
from typing import Any, Protocol, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..domain.errors import LedgerError, ProofRefused, ValidationError
from ..runtime import open_ledger
from ..settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)

PLUGINS = "ledger.commands"  # entry point group: commands other packages add to `ledger`


def fail(message: str, code: int = 1) -> None:
    # the message is text, not markup: "pip install 'deal-ledger[plot]'" keeps its brackets
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ValidationError as exc:
        fail(f"setting {exc}", exit_code(exc))
        raise  # unreachable


# The core's errors as exit codes, the first matching row wins (so subclasses come first).
EXIT_CODES: tuple[tuple[type[LedgerError], int], ...] = (
    (ValidationError, 2),
    (ProofRefused, 1),  # a proof, checkpoint or signature that does not check out
    (LedgerError, 1),
)


def exit_code(error: LedgerError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def translated_errors(func: F) -> F:
    """Run a command, turning the core's errors into a message and their exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LedgerError as exc:
            fail(str(exc), exit_code(exc))

    return wrapper  # type: ignore[return-value]


def with_ledger(func: F) -> F:
    """Open the ledger for the command (its first argument) and turn the core's errors into
    clear messages."""

    @translated_errors
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open_ledger(settings_from_env()) as ledger:
            return func(ledger, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Advance(Protocol):
    """Move a progress bar: ``done`` of ``total`` (the total as first given, if omitted)."""

    def __call__(self, done: int, total: int = ...) -> None: ...


def progress(total: int, label: str = "verifying") -> tuple[Progress, Advance]:
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

    def advance(done: int, total: int = total) -> None:
        bar.update(task, completed=done, total=total)

    return bar, advance


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
    from . import (
        analysis,
        chain,
        config,
        db,
        keys,
        projections,
        proofs,
        relay,
        synth,
        transfer,
        witness,
    )

    modules = (chain, proofs, witness, db, transfer, analysis, projections, keys, synth, config)
    for module in (*modules, relay):
        for command in module.COMMANDS:
            main.add_command(command)
    for entry in entry_points(group=PLUGINS):
        main.add_command(entry.load(), entry.name)


_compose()
