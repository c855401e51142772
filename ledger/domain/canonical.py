"""Canonical JSON: one byte string per value, stable across a PostgreSQL ``jsonb`` round trip.

The hash chain is only as good as the encoding under it. Values are therefore restricted to
what ``jsonb`` gives back unchanged -- objects, arrays, strings, integers, booleans and null --
and exact money (``Decimal``) is written as a decimal string. Floats are refused: they are
not exact, and ``jsonb`` would not give back the same bits anyway.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from .errors import ValidationError

JSONValue = dict[str, Any] | list[Any] | str | int | bool | None


def format_timestamp(value: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds (the precision PostgreSQL keeps) and a 4-digit year."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def normalise(value: Any, field: str) -> JSONValue:
    """Return ``value`` as plain JSON data, or refuse it naming ``field`` (a dotted path)."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationError(field, "text may not contain the NUL character")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError(
                        field, "text is not valid Unicode (it holds a lone surrogate)"
                    ) from None
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(field, f"amount must be a finite number, got {value}")
        return format(value, "f")
    if isinstance(value, float):
        raise ValidationError(
            field, "floats are not exact; give the number as a decimal string or an integer"
        )
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(field, "datetime must be timezone-aware (got a naive datetime)")
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, JSONValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, f"object keys must be text, got {type(key).__name__}")
            out[key] = normalise(item, f"{field}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [normalise(item, f"{field}[{i}]") for i, item in enumerate(value)]
    raise ValidationError(field, f"unsupported value of type {type(value).__name__}")


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
