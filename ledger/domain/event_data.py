"""The data of each event type (spec section 1): what must be there, in what form.

``validate_data(type, data, stream)`` checks what one event can tell about itself: required
and unknown fields, slugs, enumerations, exact non-negative amounts, dates in order, unique
leg ids, and that the event belongs to the stream it is appended to. What depends on the
history (does the deal exist, is the leg's amount left) is decided by the aggregates in
``ledger.domain.aggregates``. The result is the normalised data that is recorded: amounts as
canonical decimal strings, dates as ISO text.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .errors import ValidationError
from .event_types import MAX_SLUG_LENGTH, MAX_TEXT, SLUG
from .money import format_usd, parse_usd

ENTITY_KINDS = ("company", "government", "fund", "other")
VALUATION_BASES = ("funding_round", "secondary_sale", "market_cap", "estimate")
INSTRUMENTS = (
    "equity",
    "loan",
    "guarantee",
    "purchase",
    "backstop",
    "revenue_share",
    "warrant",
)

Check = Callable[[Any, str], Any]


# -- field checks: each takes the raw value and its dotted name, returns the normalised value --


def slug(value: Any, field: str) -> str:
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise ValidationError(
            field, f"must be a lowercase slug of letters, digits and single hyphens, got {value!r}"
        )
    if len(value) > MAX_SLUG_LENGTH:
        raise ValidationError(field, f"at most {MAX_SLUG_LENGTH} characters")
    return value


def text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be non-empty text")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ValidationError(field, f"at most {MAX_TEXT} characters")
    return value


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any, field: str) -> str:
        if value not in choices:
            raise ValidationError(field, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


# An amount already in canonical form (at most 30 digits before the point and 8 after, no
# leading or trailing zeros): the usual case, accepted without the full parse.
_CANONICAL_USD = re.compile(r"(?:0|[1-9][0-9]{0,29})(?:\.[0-9]{0,7}[1-9])?")


def usd(value: Any, field: str) -> str:
    if type(value) is str and _CANONICAL_USD.fullmatch(value):
        return value
    return format_usd(parse_usd(value, field))


def signed_usd(value: Any, field: str) -> str:
    """Net income may be a loss: the one amount allowed below zero."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return "-" + format_usd(parse_usd(value.strip()[1:], field))
    if isinstance(value, int | Decimal) and not isinstance(value, bool) and value < 0:
        return "-" + format_usd(parse_usd(-value, field))
    return usd(value, field)


def quantity(value: Any, field: str) -> str:
    """A non-negative exact number that is not money (gigawatts, shares)."""
    return format_usd(parse_usd(value, field))


def date(value: Any, field: str) -> str:
    if isinstance(value, dt.datetime):
        raise ValidationError(field, "must be a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValidationError(field, f"must be a date (YYYY-MM-DD), got {value!r}")


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be true or false, got {value!r}")
    return value


def event_id(value: Any, field: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise ValidationError(field, f"must be an event id (UUID), got {value!r}")


# -- objects ---------------------------------------------------------------------------------


def fields(
    value: Any,
    field: str,
    required: Mapping[str, Check],
    optional: Mapping[str, Check] | None = None,
) -> dict[str, Any]:
    """Check an object: every required key present, no unknown key, each value by its check."""
    optional = optional or {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be an object")
    for key in value:
        if key not in required and key not in optional:
            known = ", ".join([*required, *optional])
            raise ValidationError(f"{field}.{key}", f"unknown field; known: {known}")
    out: dict[str, Any] = {}
    for key, check in required.items():
        if value.get(key) is None:
            raise ValidationError(f"{field}.{key}", "is required")
        out[key] = check(value[key], f"{field}.{key}")
    for key, check in optional.items():
        if value.get(key) is not None:
            out[key] = check(value[key], f"{field}.{key}")
    return out


LEG_REQUIRED: dict[str, Check] = {
    "leg": slug,
    "payer": slug,
    "payee": slug,
    "instrument": one_of(INSTRUMENTS),
}
LEG_OPTIONAL: dict[str, Check] = {
    "headline_usd": usd,
    "committed_usd": usd,
    "capacity_gw": quantity,
    "shares": quantity,
    "term_start": date,
    "term_end": date,
}


def leg(value: Any, field: str) -> dict[str, Any]:
    out = fields(value, field, LEG_REQUIRED, LEG_OPTIONAL)
    if out["payer"] == out["payee"]:
        raise ValidationError(f"{field}.payee", "must differ from the payer")
    headline, committed = out.get("headline_usd"), out.get("committed_usd")
    if headline is not None and committed is not None and Decimal(committed) > Decimal(headline):
        raise ValidationError(
            f"{field}.committed_usd",
            f"the firm part {committed} exceeds the headline {headline}",
        )
    if "term_start" in out and "term_end" in out and out["term_end"] < out["term_start"]:
        raise ValidationError(f"{field}.term_end", "is before term_start")
    return out


def legs(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError(field, "must be a list of one or more legs")
    out = [leg(item, f"{field}[{i}]") for i, item in enumerate(value)]
    seen: dict[str, int] = {}
    for i, item in enumerate(out):
        if item["leg"] in seen:
            raise ValidationError(
                f"{field}[{i}].leg", f"repeats the leg id of {field}[{seen[item['leg']]}]"
            )
        seen[item["leg"]] = i
    return out


# -- event types -----------------------------------------------------------------------------

SCHEMAS: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "EntityRegistered": (
        {"entity_id": slug, "name": text, "kind": one_of(ENTITY_KINDS)},
        {"ticker": text, "country": text},
    ),
    "EntityRenamed": ({"entity_id": slug, "name": text}, {}),
    "DealAnnounced": ({"deal_id": slug, "title": text, "legs": legs}, {"conditions": text}),
    "DealAmended": ({"deal_id": slug, "legs": legs, "reason": text}, {}),
    "TrancheFunded": ({"deal_id": slug, "leg": slug, "amount_usd": usd}, {}),
    "DealTerminated": ({"deal_id": slug, "reason": text}, {}),
    "ValuationReported": (
        {"entity_id": slug, "valuation_usd": usd, "basis": one_of(VALUATION_BASES)},
        {"round_size_usd": usd},
    ),
    "RevenueReported": (
        {
            "entity_id": slug,
            "period_start": date,
            "period_end": date,
            "revenue_usd": usd,
            "forecast": boolean,
        },
        {
            "net_income_usd": signed_usd,
            "cash_burn_usd": usd,
            "rnd_usd": usd,
            "cash_usd": usd,
        },
    ),
    "EventRetracted": ({"target_event_id": event_id, "reason": text}, {}),
}


Compiled = tuple[
    tuple[tuple[str, Check, str], ...], tuple[tuple[str, Check, str], ...], frozenset[str], str
]


def _compile(required: Mapping[str, Check], optional: Mapping[str, Check]) -> Compiled:
    """A schema's checks with the dotted names of its fields made once, not per event."""
    return (
        tuple((key, check, f"data.{key}") for key, check in required.items()),
        tuple((key, check, f"data.{key}") for key, check in optional.items()),
        frozenset(required) | frozenset(optional),
        ", ".join([*required, *optional]),
    )


_COMPILED: dict[str, Compiled] = {
    name: _compile(required, optional) for name, (required, optional) in SCHEMAS.items()
}


def _data_fields(value: Any, compiled: Compiled) -> dict[str, Any]:
    """``fields(value, "data", required, optional)``, with the names made beforehand."""
    required, optional, allowed, known = compiled
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValidationError("data", "must be an object")
    for key in value:
        if key not in allowed:
            raise ValidationError(f"data.{key}", f"unknown field; known: {known}")
    out: dict[str, Any] = {}
    get = value.get
    for key, check, name in required:
        item = get(key)
        if item is None:
            raise ValidationError(name, "is required")
        out[key] = check(item, name)
    for key, check, name in optional:
        item = get(key)
        if item is not None:
            out[key] = check(item, name)
    return out


def validate_data(type: str, data: Any, stream: str | None = None) -> dict[str, Any]:
    """The normalised data of an event of ``type``, or a ``ValidationError`` naming the field."""
    if type not in SCHEMAS:
        raise ValidationError("type", f"unknown event type {type!r}")
    out = _data_fields(data, _COMPILED[type])
    if type == "RevenueReported" and out["period_end"] < out["period_start"]:
        raise ValidationError("data.period_end", "is before period_start")
    if stream is not None:
        owner = stream_of(type, out)
        if owner is not None and owner != stream:
            raise ValidationError("stream", f"a {type} event belongs in {owner}, not {stream}")
    return out


def stream_of(type: str, data: Mapping[str, Any]) -> str | None:
    """The stream an event belongs to (None for a retraction, which may sit in any stream)."""
    if "entity_id" in data:
        return f"entity/{data['entity_id']}"
    if "deal_id" in data:
        return f"deal/{data['deal_id']}"
    return None
