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

from .errors import ValidationError

JSONValue = dict[str, Any] | list[Any] | str | int | bool | None


def format_timestamp(value: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds, the precision PostgreSQL keeps."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise(value: Any, field: str) -> JSONValue:
    """Return ``value`` as plain JSON data, or refuse it naming ``field`` (a dotted path)."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(field, "text may not contain the NUL character")
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
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
