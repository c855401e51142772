"""Canonical JSON: one byte string per value, stable across a PostgreSQL ``jsonb`` round trip.

The hash chain is only as good as the encoding under it. Values are therefore restricted to
what ``jsonb`` gives back unchanged -- objects, arrays, strings, integers, booleans and null --
and exact money (``Decimal``) is written as a decimal string. Floats are refused: they are
not exact, and ``jsonb`` would not give back the same bits anyway.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from .errors import ValidationError

JSONValue = dict[str, Any] | list[Any] | str | int | bool | None


@functools.lru_cache(maxsize=4096)
def format_timestamp(value: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds (the precision PostgreSQL keeps) and a 4-digit year.

    Cached: a batch dates every event with one ``recorded_at`` and often one ``effective_at``,
    and each is formatted for the content hash, the chain link and the COPY row. (Equal
    instants in different zones are equal keys, and format the same.)"""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class _Refused(Exception):
    """A bad value deep inside; the path to it is built only on the way out, never on success."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason


def normalise(value: Any, field: str) -> JSONValue:
    """Return ``value`` as plain JSON data, or refuse it naming ``field`` (a dotted path)."""
    try:
        return _normalise(value)
    except _Refused as refused:
        raise ValidationError(field + refused.path, refused.reason) from None


def _normalise(value: Any) -> JSONValue:
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise _Refused("", "text may not contain the NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused(
                    "", "text is not valid Unicode (it holds a lone surrogate)"
                ) from None
        return value
    if kind is dict:
        out: dict[str, JSONValue] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Refused("", f"object keys must be text, got {type(key).__name__}")
            try:
                out[key] = _normalise(item)
            except _Refused as refused:
                raise _Refused(f".{key}{refused.path}", refused.reason) from None
        return out
    if value is None or kind is bool or kind is int:
        return value
    if isinstance(value, str):  # a str subclass
        return _normalise(str(value))
    if isinstance(value, bool | int):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Refused("", f"amount must be a finite number, got {value}")
        return format(value, "f")
    if isinstance(value, float):
        raise _Refused(
            "", "floats are not exact; give the number as a decimal string or an integer"
        )
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _Refused("", "datetime must be timezone-aware (got a naive datetime)")
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return _normalise(dict(value))
    if isinstance(value, list | tuple):
        items: list[JSONValue] = []
        for i, item in enumerate(value):
            try:
                items.append(_normalise(item))
            except _Refused as refused:
                raise _Refused(f"[{i}]{refused.path}", refused.reason) from None
        return items
    raise _Refused("", f"unsupported value of type {type(value).__name__}")


def canonical_bytes(value: JSONValue) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes.

    The definition is the standard library's ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)``; orjson gives the very same bytes for every normalised value (a
    property test holds them to it) several times faster, and integers beyond 64 bits, which
    orjson does not take, fall back to the definition itself.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        pass
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
