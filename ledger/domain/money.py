"""Exact amounts: USD as ``Decimal``, never a float, never negative.

Amounts arrive from JSON, GraphQL and Python callers as integers, decimal strings or
``Decimal``; they leave as decimal strings in events (``jsonb`` keeps them exactly) and as
``numeric`` in read models.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ValidationError

# Plain decimal notation only: "1500000000", "12.5". No exponent, sign or separators, so an
# amount written in an event reads the same to a person as to the ledger.
_DECIMAL = re.compile(r"\d+(\.\d+)?")
MAX_DIGITS = 30  # numeric(38, 8) in read models: 30 integer digits, 8 decimals
MAX_DECIMALS = 8


def parse_usd(value: Any, field: str) -> Decimal:
    """An exact, non-negative USD amount, or a ``ValidationError`` naming ``field``."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(field, "must be an amount in USD (an integer or a decimal string)")
    if isinstance(value, float):
        raise ValidationError(
            field, "floats are not exact; give the amount as a decimal string or an integer"
        )
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(field, f"must be a finite amount, got {value}")
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValidationError(field, f"must not be negative, got {value!r}")
        if not _DECIMAL.fullmatch(text):
            raise ValidationError(field, f"not a plain decimal amount: {value!r}")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise ValidationError(field, f"not a decimal amount: {value!r}") from None
    else:
        raise ValidationError(field, f"must be an amount in USD, got {type(value).__name__}")
    if amount < 0:
        raise ValidationError(field, f"must not be negative, got {amount}")
    if amount == 0:
        amount = Decimal(0)  # not -0
    whole, _, decimals = format_usd(amount).partition(".")
    if len(decimals) > MAX_DECIMALS:
        raise ValidationError(field, f"at most {MAX_DECIMALS} decimal places, got {len(decimals)}")
    if len(whole) > MAX_DIGITS:
        raise ValidationError(field, f"at most {MAX_DIGITS} digits before the decimal point")
    return amount


def format_usd(amount: Decimal) -> str:
    """The canonical text of an amount: plain notation, no exponent, no trailing zeros.

    Not ``Decimal.normalize()``: it rounds to the context's 28 significant digits.
    """
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
