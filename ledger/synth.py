"""Synthetic ledgers for scale: a random but plausible deal web, appended through the store.

Why it looks the way it does: real deal webs are lopsided -- a few hubs (an Nvidia, an OpenAI)
are party to most deals -- so entities are drawn with power-law weights. Each deal gets the
life a real one has (amendments, tranches within what is left of the leg, sometimes a
termination), entities report valuations and revenue, some facts are corrected later with an
earlier ``effective_at`` (back-dated), and a few are retracted. Every event passes the
store's validation, and every rule of the domain holds by construction.

Seeded, so a benchmark can be re-run on the same history.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .domain.envelope import NewEvent
from .domain.errors import ValidationError
from .store import EventStore

START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
DAYS = 3 * 365
LAST_DAY = (START + dt.timedelta(days=DAYS)).date()  # reporting periods end by then
SOURCE = {"title": "synthetic (ledger synth)"}
INSTRUMENTS = ("equity", "loan", "guarantee", "purchase", "backstop", "revenue_share", "warrant")
KINDS = ("company", "company", "company", "fund", "government", "other")

Progress = Callable[[int], None]  # events appended so far


@dataclass(frozen=True)
class SynthResult:
    events: int
    entities: int
    deals: int


def _day(rng: random.Random, lo: int = 0, hi: int = DAYS) -> dt.datetime:
    return START + dt.timedelta(days=rng.randint(lo, hi), seconds=rng.randint(0, 86_399))


def _usd(rng: random.Random, lo: float = 6, hi: float = 11) -> int:
    """A round amount between 10**lo and 10**hi dollars, log-uniform."""
    return int(round(10 ** rng.uniform(lo, hi), -5))


def _event(rng: random.Random, type: str, data: dict, at: dt.datetime | str) -> NewEvent:
    event_id = uuid.UUID(int=rng.getrandbits(128), version=4)  # seeded like everything else
    return NewEvent(type=type, data=data, effective_at=at, source=SOURCE, event_id=event_id)


class _Web:
    def __init__(self, rng: random.Random, entities: int) -> None:
        self.rng = rng
        self.ids = [f"s{i:05d}" for i in range(entities)]
        # Zipf-like weights: entity k is party to deals in proportion to 1 / (k + 1).
        self.weights = [1 / (k + 1) ** 0.9 for k in range(entities)]

    def pair(self) -> tuple[str, str]:
        while True:
            payer, payee = self.rng.choices(self.ids, self.weights, k=2)
            if payer != payee:
                return payer, payee


def _deal_stream(web: _Web, deal_id: str, budget: int) -> list[NewEvent]:
    rng = web.rng
    announced = _day(rng, 0, DAYS - 120)
    legs = []
    for i in range(rng.choice((1, 1, 1, 2, 2, 3))):
        payer, payee = web.pair()
        leg = {"leg": f"l{i}", "payer": payer, "payee": payee}
        leg["instrument"] = rng.choice(INSTRUMENTS)
        if rng.random() < 0.1:
            leg["capacity_gw"] = str(rng.randint(1, 10))  # a capacity-only deal
        else:
            headline = _usd(rng)
            leg["headline_usd"] = str(headline)
            if rng.random() < 0.6:
                leg["committed_usd"] = str(headline // rng.choice((1, 2, 4, 10)))
        legs.append(leg)
    events = [
        _event(
            rng,
            "DealAnnounced",
            {"deal_id": deal_id, "title": f"Synthetic deal {deal_id}", "legs": legs},
            announced,
        )
    ]
    at = announced
    funded = {leg["leg"]: 0 for leg in legs}
    while len(events) < budget:
        at = at + dt.timedelta(days=rng.randint(1, 60))
        roll = rng.random()
        if roll < 0.15:
            # Amend: scale every amount, keeping what was funded affordable.
            new_legs = []
            for leg in legs:
                leg = dict(leg)
                if "headline_usd" in leg:
                    floor = max(funded[leg["leg"]], int(leg.get("committed_usd", 0)))
                    headline = max(int(int(leg["headline_usd"]) * rng.uniform(0.8, 1.5)), floor)
                    leg["headline_usd"] = str(headline)
                    if "committed_usd" in leg:
                        leg["committed_usd"] = str(
                            max(floor, min(headline, int(leg["committed_usd"])))
                        )
                new_legs.append(leg)
            legs = new_legs
            events.append(
                _event(
                    rng, "DealAmended", {"deal_id": deal_id, "legs": legs, "reason": "revised"}, at
                )
            )
        elif roll < 0.97:
            leg = rng.choice(legs)
            cap = int(leg.get("committed_usd", leg.get("headline_usd", 0)))
            left = cap - funded[leg["leg"]]
            if left <= 0:
                continue
            amount = min(left, max(1, int(left * rng.uniform(0.05, 0.5))))
            funded[leg["leg"]] += amount
            events.append(
                _event(
                    rng,
                    "TrancheFunded",
                    {"deal_id": deal_id, "leg": leg["leg"], "amount_usd": str(amount)},
                    at,
                )
            )
        else:
            events.append(
                _event(rng, "DealTerminated", {"deal_id": deal_id, "reason": "called off"}, at)
            )
            break
    return events


def _entity_stream(rng: random.Random, entity_id: str, budget: int) -> list[NewEvent]:
    registered = START - dt.timedelta(days=rng.randint(1, 3000))
    events = [
        _event(
            rng,
            "EntityRegistered",
            {"entity_id": entity_id, "name": f"Synthetic {entity_id}", "kind": rng.choice(KINDS)},
            registered,
        )
    ]
    valuation = _usd(rng, 7, 12)
    quarter = dt.date(2023, 1, 1)
    while len(events) < budget:
        roll = rng.random()
        if roll < 0.6:
            valuation = min(max(10**6, int(valuation * rng.uniform(0.7, 1.45))), 5 * 10**12)
            # One in ten is a correction dated earlier than the facts recorded before it.
            at = _day(rng, 0, DAYS // 3) if rng.random() < 0.1 else _day(rng)
            events.append(
                _event(
                    rng,
                    "ValuationReported",
                    {
                        "entity_id": entity_id,
                        "valuation_usd": str(valuation),
                        "basis": rng.choice(("funding_round", "secondary_sale", "market_cap")),
                    },
                    at,
                )
            )
        elif roll < 0.95:
            end = quarter + dt.timedelta(days=89)
            if end > LAST_DAY:  # past the window: restate the first quarter again, and so on
                quarter = START.date()
                end = quarter + dt.timedelta(days=89)
            events.append(
                _event(
                    rng,
                    "RevenueReported",
                    {
                        "entity_id": entity_id,
                        "period_start": quarter.isoformat(),
                        "period_end": end.isoformat(),
                        "revenue_usd": str(_usd(rng, 5, 10)),
                        "forecast": rng.random() < 0.2,
                    },
                    dt.datetime.combine(end, dt.time(), dt.UTC) + dt.timedelta(days=30),
                )
            )
            quarter = end + dt.timedelta(days=1)
        elif roll < 0.98 and len(events) > 1:
            target = rng.choice(events[1:])
            if target.type == "EventRetracted" or any(
                e.type == "EventRetracted" and e.data["target_event_id"] == str(target.event_id)
                for e in events
            ):
                continue
            events.append(
                _event(
                    rng,
                    "EventRetracted",
                    {"target_event_id": str(target.event_id), "reason": "corrected"},
                    target.effective_at,
                )
            )
        else:
            events.append(
                _event(
                    rng,
                    "EntityRenamed",
                    {"entity_id": entity_id, "name": f"Renamed {entity_id}"},
                    _day(rng),
                )
            )
    return events


def _budgets(rng: random.Random, total: int, weights: list[float]) -> Iterator[int]:
    scale = total / sum(weights)
    for w in weights:
        yield max(1, round(w * scale * rng.uniform(0.5, 1.5)))


def plan(
    *, events: int, entities: int, deals: int | None = None, seed: int = 0
) -> Iterator[tuple[str, list[NewEvent]]]:
    """The history to append, stream by stream: ``entities`` entities (registered first) and
    ``deals`` deals (default: one per ten events), about ``events`` events in all."""
    if entities < 2:
        raise ValidationError("entities", "a deal needs at least 2 entities")
    deals = events // 10 if deals is None else deals
    if events < entities + deals:
        raise ValidationError(
            "events", f"{events} cannot hold {entities} registrations and {deals} announcements"
        )
    rng = random.Random(seed)
    web = _Web(rng, entities)
    deal_budget = min(events - entities, deals * 5)
    entity_sizes = list(_budgets(rng, events - deal_budget, web.weights))
    for entity_id, size in zip(web.ids, entity_sizes, strict=True):
        yield f"entity/{entity_id}", _entity_stream(rng, entity_id, size)
    for d in range(deals):
        size = max(1, min(12, round(rng.expovariate(1 / max(deal_budget / deals, 1)))))
        yield f"deal/x{d:06d}", _deal_stream(web, f"x{d:06d}", size)


def synth(
    store: EventStore,
    *,
    events: int,
    entities: int,
    deals: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> SynthResult:
    """Append the ``plan``: each stream in one append, expected to be new."""
    written = 0
    streams = 0
    for stream, batch in plan(events=events, entities=entities, deals=deals, seed=seed):
        store.append(stream, batch, expected_version=0)
        written += len(batch)
        streams += 1
        if progress:
            progress(written)
    return SynthResult(events=written, entities=entities, deals=streams - entities)
