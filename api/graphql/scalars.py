"""How times and amounts cross the API: ISO-8601, timezone-aware, UTC out; a bare date is its 00:00 UTC.

Why not Strawberry's default: it accepts naive date-times, whose meaning depends on the
server's clock settings. A time without an offset is refused with a message that says so.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry

from ledger.domain.instants import parse_instant
from ledger.domain.money import format_usd


def serialize_instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


DateTime = strawberry.scalar(
    name="DateTime",
    description="An instant, ISO-8601 with a timezone (a bare date means its 00:00 UTC).",
    serialize=serialize_instant,
    parse_value=parse_instant,
)


MAX_EXPONENT = 40


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            'an amount must be a decimal string such as "100000000000" or an integer; '
            "floats are not exact"
        )
    try:
        parsed = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    # Refused before anything writes it out in full: "1e999999999" is 22 bytes and a
    # gigabyte of digits. No amount, ratio or rate of the ledger comes near these bounds.
    if parsed and not -MAX_EXPONENT <= parsed.adjusted() <= MAX_EXPONENT:
        raise ValueError(
            f"{value!r} is out of range (at most {MAX_EXPONENT} digits either side of the point)"
        )
    return parsed


def serialize_decimal(value: Decimal) -> str:
    return format_usd(value) if value.is_finite() else str(value)


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description="An exact decimal number as a string (amounts in USD, GW, shares, ratios).",
    serialize=serialize_decimal,
    parse_value=parse_decimal,
)
