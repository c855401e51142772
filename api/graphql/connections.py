"""Relay cursor connections (the Cursor Connections Specification): ``deals`` and ``events``
page forward with ``first``/``after`` and back with ``last``/``before``; ``PageInfo`` has
all four of ``hasNextPage``, ``hasPreviousPage``, ``startCursor`` and ``endCursor``.

Cursors are opaque (base64 of the list's kind and its key: a deal id, a position); a cursor
of another list is refused. Which items exist beyond the page is known exactly in the
direction read; the other way, the cursor's own item is beyond it (Relay allows either)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import strawberry

from ledger.domain.errors import ValidationError

from .types import Deal, Event

DEFAULT_PAGE = 50


def encode_cursor(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None, field: str = "after") -> str | None:
    if cursor is None:
        return None
    try:
        prefix, key = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError):
        prefix, key = "", ""
    if prefix != kind:
        raise ValidationError(field, f"{cursor!r} is not a cursor of this list")
    return key


@dataclass(frozen=True)
class Window:
    """A page asked for: ``size`` items after ``after`` (forward) or before ``before``
    (``backward``, from ``last``); keys decoded from the cursors."""

    size: int
    backward: bool
    after: str | None
    before: str | None


def window(
    kind: str,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    maximum: int,
) -> Window:
    """The page the arguments ask for, or the refusal naming the argument."""
    if first is not None and last is not None:
        raise ValidationError("last", "give first (forward) or last (backward), not both")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= maximum:
            raise ValidationError(name, f"must be between 1 and {maximum}, got {value}")
    return Window(
        size=last if last is not None else (first if first is not None else DEFAULT_PAGE),
        backward=last is not None,
        after=decode_cursor(kind, after, "after"),
        before=decode_cursor(kind, before, "before"),
    )


@strawberry.type(description="Where a page lies in its list (Relay's PageInfo).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class DealEdge:
    cursor: str
    node: Deal


@strawberry.type
class DealConnection:
    edges: list[DealEdge]
    page_info: PageInfo


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
