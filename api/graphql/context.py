"""Per-request context: the ledger, and DataLoaders that batch what nested fields ask for.

Why loaders: a graph of 50 nodes whose valuations and deals are asked for would otherwise
cost 100 queries. Each loader collects the keys one event-loop turn asks for and answers them
with one call to a batch query function of ``ledger.queries``, per (as_of,
known_at[, basis]) group. The blocking query functions run in a worker thread so the event
loop keeps serving.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext

from ledger import queries
from ledger.auth import may
from ledger.commands import Commands
from ledger.domain.envelope import RecordedEvent
from ledger.domain.errors import LedgerError
from ledger.domain.views import DealView, EntityView, Node
from ledger.runtime import Ledger

from .errors import graphql_error

T = TypeVar("T")


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking ledger call, off the event loop; a refusal of the core comes back as the
    GraphQL error of the one table (``errors.graphql_error``)."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except LedgerError as exc:
        raise graphql_error(exc) from None


def _grouped(keys: Sequence[tuple], fetch: Callable[[tuple, list[str]], dict[str, Any]]) -> list:
    """Answer keys (id, *rest) by calling ``fetch(rest, ids)`` once per distinct ``rest``."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for key in keys:
        groups[key[1:]].append(key[0])
    answers = {rest: fetch(rest, ids) for rest, ids in groups.items()}
    return [answers[key[1:]].get(key[0]) for key in keys]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Context(BaseContext, kw_only=True):
    """What every resolver gets: the ledger, the request's "now", the loaders."""

    ledger: Ledger
    role: str | None = None  # from the request's API key; None without one
    actor: str | None = None  # the key's name: who recorded an event (metadata.actor)
    request_id: str | None = None  # also recorded in each event's metadata
    production: bool = False
    now: dt.datetime = msgspec.field(default_factory=_now)
    nodes: Any = None
    entity_views: Any = None
    deals_of: Any = None
    deals: Any = None
    histories: Any = None
    commands: Any = None
    tail: Any = None  # the process's ledger.store.tail.Tail, for subscriptions

    def may(self, action: str) -> bool:
        """May this request's caller do ``action`` (``ledger.auth.may``)?"""
        return may(action, self.role, production=self.production)

    def __post_init__(self) -> None:
        engine, store = self.ledger.engine, self.ledger.store

        async def nodes(keys: list[tuple[str, dt.datetime, dt.datetime]]) -> list[Node | None]:
            return await run(_grouped, keys, lambda rest, ids: queries.entities(engine, ids, *rest))

        async def views(
            keys: list[tuple[str, dt.datetime, dt.datetime, str]],
        ) -> list[EntityView | None]:
            return await run(
                _grouped, keys, lambda rest, ids: queries.entity_views(engine, ids, *rest)
            )

        async def deals_of(
            keys: list[tuple[str, dt.datetime, dt.datetime]],
        ) -> list[list[DealView]]:
            return await run(_grouped, keys, lambda rest, ids: queries.deals_of(engine, ids, *rest))

        def fetch_deals(rest: tuple, ids: list[str]) -> dict[str, DealView]:
            found: dict[str, DealView] = {}
            for start in range(0, len(ids), queries.MAX_PAGE):
                chunk = ids[start : start + queries.MAX_PAGE]
                page = queries.deals(engine, *rest, deal_ids=chunk, first=queries.MAX_PAGE)
                found.update((d.deal_id, d) for d in page.items)
            return found

        async def deals(keys: list[tuple[str, dt.datetime, dt.datetime]]) -> list[DealView | None]:
            return await run(_grouped, keys, fetch_deals)

        def fetch_histories(rest: tuple, streams: list[str]) -> dict[str, list[RecordedEvent]]:
            out: dict[str, list[RecordedEvent]] = {s: [] for s in streams}
            for event in store.read_streams(streams, recorded_by=rest[0]):
                out[event.stream].append(event)
            return out

        async def histories(keys: list[tuple[str, dt.datetime]]) -> list[list[RecordedEvent]]:
            return await run(_grouped, keys, fetch_histories)

        self.nodes = DataLoader(load_fn=nodes)
        self.entity_views = DataLoader(load_fn=views)
        self.deals_of = DataLoader(load_fn=deals_of)
        self.deals = DataLoader(load_fn=deals)
        self.histories = DataLoader(load_fn=histories)
        self.commands = Commands(store)
