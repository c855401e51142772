"""How a user writes a point in time, for every adapter (API, CLI): ISO-8601 with a timezone;
a bare date is its 00:00 UTC. A date-time without an offset is refused, because its meaning
would depend on the clock settings of whichever machine reads it."""

from __future__ import annotations

import datetime as dt
from typing import Any


def parse_instant(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("a date-time must be an ISO-8601 string")
    text = value.strip()
    try:
        if len(text) == 10:  # a bare date
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date or date-time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone: add Z or an offset such as +00:00")
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise ValueError(f"{value!r} is out of range in UTC (years 1 to 9999)") from None
