"""Commands: validate, load the stream, let its aggregate decide, append at the version decided on.

Each command is a few lines over one pattern (``_decide_and_append``), so the rules live in the
pure domain (``ledger.domain.event_data`` for what an event says about itself,
``ledger.domain.aggregates`` for what its history allows) and this module only fetches what
they need. Appends state the stream version the decision was made on: a concurrent command
that got there first makes this one fail with ``VersionConflict`` -- nothing is written, and
calling the command again decides afresh. A command repeated with the same ``event_id``
returns the event first recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .domain.aggregates import (
    RetractionTarget,
    deal_state,
    decide_deal,
    decide_entity,
    decide_retraction,
    entity_state,
)
from .domain.envelope import NewEvent, RecordedEvent
from .domain.errors import NotFound
from .domain.event_data import stream_of, validate_data
from .store import EventStore

Source = Mapping[str, Any] | str


class Commands:
    """The ledger's write side, over one event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    # -- entities ------------------------------------------------------------------------------

    def register_entity(
        self,
        *,
        entity_id: str,
        name: str,
        kind: str,
        effective_at: dt.datetime | str,
        source: Source,
        ticker: str | None = None,
        country: str | None = None,
        **options: Any,
    ) -> RecordedEvent:
        data = {"entity_id": entity_id, "name": name, "kind": kind}
        data |= {k: v for k, v in {"ticker": ticker, "country": country}.items() if v}
        return self._entity("EntityRegistered", data, effective_at, source, **options)

    def rename_entity(
        self,
        *,
        entity_id: str,
        name: str,
        effective_at: dt.datetime | str,
        source: Source,
        **options: Any,
    ) -> RecordedEvent:
        data = {"entity_id": entity_id, "name": name}
        return self._entity("EntityRenamed", data, effective_at, source, **options)

    def report_valuation(
        self,
        *,
        entity_id: str,
        valuation_usd: Any,
        basis: str,
        effective_at: dt.datetime | str,
        source: Source,
        round_size_usd: Any = None,
        **options: Any,
    ) -> RecordedEvent:
        data = {"entity_id": entity_id, "valuation_usd": valuation_usd, "basis": basis}
        if round_size_usd is not None:
            data["round_size_usd"] = round_size_usd
        return self._entity("ValuationReported", data, effective_at, source, **options)

    def report_revenue(
        self,
        *,
        entity_id: str,
        period_start: Any,
        period_end: Any,
        revenue_usd: Any,
        forecast: bool,
        effective_at: dt.datetime | str,
        source: Source,
        net_income_usd: Any = None,
        cash_burn_usd: Any = None,
        rnd_usd: Any = None,
        cash_usd: Any = None,
        **options: Any,
    ) -> RecordedEvent:
        data = {
            "entity_id": entity_id,
            "period_start": period_start,
            "period_end": period_end,
            "revenue_usd": revenue_usd,
            "forecast": forecast,
        }
        optional = {
            "net_income_usd": net_income_usd,
            "cash_burn_usd": cash_burn_usd,
            "rnd_usd": rnd_usd,
            "cash_usd": cash_usd,
        }
        data |= {k: v for k, v in optional.items() if v is not None}
        return self._entity("RevenueReported", data, effective_at, source, **options)

    # -- deals ---------------------------------------------------------------------------------

    def announce_deal(
        self,
        *,
        deal_id: str,
        title: str,
        legs: list[Mapping[str, Any]],
        effective_at: dt.datetime | str,
        source: Source,
        conditions: str | None = None,
        **options: Any,
    ) -> RecordedEvent:
        data: dict[str, Any] = {"deal_id": deal_id, "title": title, "legs": legs}
        if conditions:
            data["conditions"] = conditions
        return self._deal("DealAnnounced", data, effective_at, source, **options)

    def amend_deal(
        self,
        *,
        deal_id: str,
        legs: list[Mapping[str, Any]],
        reason: str,
        effective_at: dt.datetime | str,
        source: Source,
        **options: Any,
    ) -> RecordedEvent:
        data = {"deal_id": deal_id, "legs": legs, "reason": reason}
        return self._deal("DealAmended", data, effective_at, source, **options)

    def fund_tranche(
        self,
        *,
        deal_id: str,
        leg: str,
        amount_usd: Any,
        effective_at: dt.datetime | str,
        source: Source,
        **options: Any,
    ) -> RecordedEvent:
        data = {"deal_id": deal_id, "leg": leg, "amount_usd": amount_usd}
        return self._deal("TrancheFunded", data, effective_at, source, **options)

    def terminate_deal(
        self,
        *,
        deal_id: str,
        reason: str,
        effective_at: dt.datetime | str,
        source: Source,
        **options: Any,
    ) -> RecordedEvent:
        data = {"deal_id": deal_id, "reason": reason}
        return self._deal("DealTerminated", data, effective_at, source, **options)

    # -- corrections ---------------------------------------------------------------------------

    def retract_event(
        self,
        *,
        target_event_id: uuid.UUID | str,
        reason: str,
        effective_at: dt.datetime | str,
        source: Source,
        **options: Any,
    ) -> RecordedEvent:
        """Retract an event; the retraction goes into the target's stream, beside what it undoes."""
        data = validate_data(
            "EventRetracted", {"target_event_id": target_event_id, "reason": reason}
        )
        try:
            target = self.store.get(data["target_event_id"])
        except NotFound:
            target = None

        def decide(history: list[RecordedEvent]) -> None:
            found = None
            if target is not None:
                retracted = any(
                    e.type == "EventRetracted"
                    and e.data["target_event_id"] == data["target_event_id"]
                    for e in history
                )
                found = RetractionTarget(target.type, retracted)
            decide_retraction(found, data)

        if target is None:
            decide([])  # refuses: unknown event
        assert target is not None
        return self._decide_and_append(
            target.stream, "EventRetracted", data, effective_at, source, decide, **options
        )

    # -- the pattern ---------------------------------------------------------------------------

    def _entity(
        self, type: str, data: dict[str, Any], effective_at: Any, source: Source, **options: Any
    ) -> RecordedEvent:
        data = validate_data(type, data)
        stream = stream_of(type, data)
        assert stream is not None

        def decide(history: list[RecordedEvent]) -> None:
            decide_entity(entity_state(history), type, data)

        return self._decide_and_append(stream, type, data, effective_at, source, decide, **options)

    def _deal(
        self, type: str, data: dict[str, Any], effective_at: Any, source: Source, **options: Any
    ) -> RecordedEvent:
        data = validate_data(type, data)
        stream = stream_of(type, data)
        assert stream is not None

        def decide(history: list[RecordedEvent]) -> None:
            named = {leg[role] for leg in data.get("legs", []) for role in ("payer", "payee")}
            known = {e for e in named if self.entity_exists(e)}
            decide_deal(deal_state(history), type, data, known)

        return self._decide_and_append(stream, type, data, effective_at, source, decide, **options)

    def entity_exists(self, entity_id: str) -> bool:
        return entity_state(self.store.read_stream(f"entity/{entity_id}")).exists

    def _decide_and_append(
        self,
        stream: str,
        type: str,
        data: dict[str, Any],
        effective_at: Any,
        source: Source,
        decide: Callable[[list[RecordedEvent]], None],
        *,
        event_id: uuid.UUID | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> RecordedEvent:
        event = NewEvent(
            type=type,
            data=data,
            effective_at=effective_at,
            source=source,
            event_id=event_id,
            metadata=metadata or {},
        )
        if event_id is not None and self._recorded(event_id):
            # A repeated command: the store returns the original, or refuses other content.
            return self.store.append(stream, [event])[0]
        history = self.store.read_stream(stream)
        decide(history)  # the folds leave retracted events out themselves
        version = len(history) if expected_version is None else expected_version
        return self.store.append(stream, [event], expected_version=version)[0]

    def _recorded(self, event_id: uuid.UUID | str) -> bool:
        try:
            self.store.get(event_id)
        except (NotFound, ValueError):
            return False
        return True


__all__ = ["Commands"]
