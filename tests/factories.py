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


def announced(deal_id: str, payer: str = "nvidia", payee: str = "openai", **leg: Any) -> NewEvent:
    """A one-leg deal, ``payer -> payee``, a $100B equity stake unless ``leg`` says otherwise."""
    legs = [
        {
            "leg": "l0",
            "payer": payer,
            "payee": payee,
            "instrument": "equity",
            "headline_usd": "100000000000",
        }
        | leg
    ]
    return NewEvent(
        type="DealAnnounced",
        data={"deal_id": deal_id, "title": f"Deal {deal_id}", "legs": legs},
        effective_at=dt.datetime(2025, 9, 22, tzinfo=dt.UTC),
        source=SOURCE,
    )


def fill(store: Any, entities: int = 40, valuations: int = 100, deals: int = 200) -> None:
    """A ledger of ``entities * (valuations + 1) + deals`` events, appended in large batches."""
    ids = [f"e{i}" for i in range(entities)]
    for entity_id in ids:
        store.append(
            f"entity/{entity_id}",
            [registered(entity_id)]
            + [valuation(str(10**9 + k), entity_id) for k in range(valuations)],
        )
    for d in range(deals):
        payer, payee = ids[d % entities], ids[(d * 7 + 1) % entities]
        if payer == payee:
            payee = ids[(d + 1) % entities]
        store.append(f"deal/d{d}", [announced(f"d{d}", payer, payee)])
