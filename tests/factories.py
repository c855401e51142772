"""Small builders of valid events, so each test states only what it is about."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ledger.domain.envelope import NewEvent

SOURCE = {"url": "https://example.com/report", "title": "A public report"}


def registered(entity_id: str = "openai", **overrides: Any) -> NewEvent:
    fields: dict[str, Any] = {
        "type": "EntityRegistered",
        "data": {"entity_id": entity_id, "name": entity_id.title(), "kind": "company"},
        "effective_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "source": SOURCE,
        "event_id": uuid.uuid4(),
    }
    fields.update(overrides)
    return NewEvent(**fields)


def valuation(
    amount: str = "500000000000", entity_id: str = "openai", **overrides: Any
) -> NewEvent:
    fields: dict[str, Any] = {
        "type": "ValuationReported",
        "data": {"entity_id": entity_id, "valuation_usd": amount, "basis": "secondary_sale"},
        "effective_at": dt.datetime(2025, 10, 2, tzinfo=dt.UTC),
        "source": SOURCE,
        "event_id": uuid.uuid4(),
    }
    fields.update(overrides)
    return NewEvent(**fields)
