"""The driver's errors as the core's types: no edge of the ledger needs to know psycopg or SQLAlchemy.

``translated()`` wraps every statement the store runs: a value PostgreSQL (or psycopg, before
sending it) refuses becomes ``InvalidInput``; a database that cannot be reached, went away
mid-statement or cancelled it (a statement timeout) becomes ``DatabaseUnavailable``. Any
other driver error is a bug or a refusal of the schema's own (a trigger) and is left as it is,
unless the caller asks for ``refusals``: administrative work (migrations) then reports the
database's refusal as ``DatabaseRefused``, with the server's own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from ..domain.errors import DatabaseRefused, DatabaseUnavailable, InvalidInput, LedgerError


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def translation(error: BaseException) -> LedgerError | None:
    """The core's error for a driver's error (psycopg's, or SQLAlchemy's wrapping one)."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        error = error.orig
    if isinstance(error, psycopg.DataError):
        diag = getattr(error, "diag", None)
        column = getattr(diag, "column_name", None) if diag is not None else None
        return InvalidInput(column or "value", _first_line(error))
    if isinstance(error, psycopg.errors.QueryCanceled):
        return DatabaseUnavailable(f"the database cancelled the statement: {_first_line(error)}")
    if isinstance(error, psycopg.OperationalError):
        return DatabaseUnavailable(f"cannot reach the database: {_first_line(error)}")
    return None


@contextmanager
def translated(*, refusals: bool = False) -> Iterator[None]:
    """Run a block of the store's I/O, raising the core's types for the driver's errors (with
    ``refusals``, every driver error: the others as ``DatabaseRefused``)."""
    try:
        yield
    except (psycopg.Error, sa_exc.DBAPIError) as error:
        core = translation(error)
        if core is None and refusals:
            core = DatabaseRefused(_first_line(getattr(error, "orig", None) or error))
        if core is None:
            raise
        raise core from error
