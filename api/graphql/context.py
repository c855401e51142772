"""Per-request context: the ledger, the request's snapshot of the read models, and DataLoaders
that batch what nested fields ask for.

Why loaders: a graph of 50 nodes whose valuations and deals are asked for would otherwise
cost 100 queries. Each loader collects the keys one event-loop turn asks for and answers them
with one call to a batch query function of ``ledger.queries``, per (as_of, known_at[, basis])
group. The blocking query functions run in a worker thread so the event loop keeps serving.

Why one snapshot: with ``knownAt`` defaulting to now, a nested field read in a transaction of
its own could see a projector commit that its root did not. So every question of one HTTP
request -- its root fields' and every loader batch's -- reads in the request's
``queries.Snapshot``: one read-only REPEATABLE READ transaction, begun at the request's first
question and ended when its operation ends (``OneSnapshot``). It also remembers the whole
graph at a point, so root fields asking at the same point build it once. Over a websocket the
context lives as long as the connection, which carries many operations (subscriptions): there
each question reads in a transaction of its own, as before.

A request holds its snapshot's pooled connection across awaits, while the questions of every
request wait for a worker thread. So snapshots are held on a pool of their own
(``Ledger.snapshots``): were they held on the pool that mutations, the projector and the
store's reads use, holders waiting for a thread could keep the connections that the threads
wait for (a load of mixed reads and writes did stall so, for the pool's 30 s timeout). At most
one fewer requests than that pool holds connections hold one at once; a request waits for its
turn on the event loop, not in a thread (``_holders``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
from sqlalchemy import Engine
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.litestar import BaseContext

from ledger import queries
from ledger.auth import may
from ledger.commands import Commands
from ledger.domain.envelope import RecordedEvent
from ledger.domain.errors import LedgerError, ValidationError
from ledger.domain.views import DealView, EntityView, Node
from ledger.runtime import Ledger
from ledger.store import EventStore
from ledger.store.tail import Tail

from .errors import graphql_error

T = TypeVar("T")
V = TypeVar("V")
P = ParamSpec("P")

# Every key ends with the atPosition asked for (None: none); known_at None is "now", the
# request's basis instant.
Known = dt.datetime | None
NodeKey = tuple[str, dt.datetime, Known, int | None]  # (entity id, as_of, known_at, position)
ViewKey = tuple[str, dt.datetime, Known, str, int | None]  # (..., basis, position)
DealKey = tuple[str, dt.datetime, Known, int | None]  # (deal id, as_of, known_at, position)
HistoryKey = tuple[str, Known, int | None]  # (stream, known_at, position)
MIN_POSITION_HEADER = "ledger-min-position"


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking ledger call, off the event loop; a refusal of the core comes back as the
    GraphQL error of the one table (``errors.graphql_error``)."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except LedgerError as exc:
        raise graphql_error(exc) from None


def _grouped(
    source: Any,
    keys: Sequence[tuple[Any, ...]],
    fetch: Callable[..., Mapping[str, V]],
) -> list[V | None]:
    """Answer keys (id, *rest, position) by calling ``fetch(source, ids, *rest,
    at_position=position)`` once per distinct (rest, position)."""
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for key in keys:
        groups[key[1:]].append(key[0])
    answers = {
        rest: fetch(source, ids, *rest[:-1], at_position=rest[-1]) for rest, ids in groups.items()
    }
    return [answers[key[1:]].get(key[0]) for key in keys]


def _histories(
    store: EventStore,
    streams: list[str],
    known_at: dt.datetime | None,
    *,
    at_position: int | None,
    basis: queries.Basis | None,
) -> dict[str, list[RecordedEvent]]:
    """Raw events of some streams as of the request's basis (or the whole log, without one)."""
    if basis is not None:
        known_at = known_at or basis.instant
        at_position = min(at_position or basis.position, basis.position)
    out: dict[str, list[RecordedEvent]] = {s: [] for s in streams}
    for event in store.read_streams(streams, recorded_by=known_at, upto_position=at_position):
        out[event.stream].append(event)
    return out


class Reflected:
    """The last position an operation's answers reflect: its root fields' largest basis, or
    for a mutation the last position it wrote (``extensions.ledger.position``)."""

    def __init__(self) -> None:
        self.position: int | None = None

    def note(self, position: int | None) -> None:
        if position is not None:
            self.position = position if self.position is None else max(self.position, position)


# -- requests holding a snapshot ----------------------------------------------------------------

_HOLDERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[Engine, asyncio.Semaphore]
] = weakref.WeakKeyDictionary()


def _holders(engine: Engine) -> asyncio.Semaphore:
    """The turns of this event loop's requests to hold a connection of ``engine`` for their
    snapshot: one fewer than its pool holds (at most), so a connection is always left for the
    worker threads -- with every thread waiting in the pool, none is using one."""
    per_loop = _HOLDERS.setdefault(asyncio.get_running_loop(), weakref.WeakKeyDictionary())
    turns = per_loop.get(engine)
    if turns is None:
        pool = engine.pool
        size = pool.size() if hasattr(pool, "size") else 0
        overflow = getattr(pool, "_max_overflow", -1)  # QueuePool's; -1: no bound
        capacity = size + overflow if size > 0 and overflow >= 0 else None
        turns = per_loop[engine] = asyncio.Semaphore(
            max(1, capacity - 1) if capacity is not None else 1_000_000
        )
    return turns


class _RequestSnapshot:
    """One request's snapshot, taken at its first question, and its turn as a holder."""

    def __init__(
        self,
        engine: Engine,
        at_least: int,
        wait: float,
        reflected: Reflected,
        project: queries.Project | None = None,
        primary: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.primary = primary
        self.at_least = at_least
        self.wait = wait
        self.project = project
        self.reflected = reflected
        self._snapshot: queries.Snapshot | None = None
        self._turns: asyncio.Semaphore | None = None
        self._opening = asyncio.Lock()
        self._ended = False

    async def get(self) -> queries.Snapshot:
        async with self._opening:
            if self._ended:  # a resolver left running after its operation failed
                raise RuntimeError("the request's operation has ended")
            if self._snapshot is None:
                turns = _holders(self.engine)
                await turns.acquire()
                self._turns = turns
                self._snapshot = queries.Snapshot(
                    self.engine,
                    at_least=self.at_least,
                    wait=self.wait,
                    project=self.project,
                    primary=self.primary,
                )
            return self._snapshot

    async def end(self) -> None:
        async with self._opening:
            self._ended = True
            snapshot, turns = self._snapshot, self._turns
            self._snapshot = self._turns = None
        if snapshot is None or turns is None:
            return
        self.reflected.note(snapshot.reflected)
        try:
            if snapshot.opened:
                await asyncio.to_thread(snapshot.close)  # waits for a question still running
            else:
                snapshot.close()
        finally:
            turns.release()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Context(BaseContext, kw_only=True, dict=True):
    """What every resolver gets: the ledger, the request's "now", its snapshot, the loaders.

    A ``msgspec.Struct`` (strawberry's ``BaseContext`` is one); ``dict=True`` lets the loaders
    be built lazily, once per context (``cached_property``)."""

    ledger: Ledger
    role: str | None = None  # from the request's API key; None without one
    actor: str | None = None  # the key's name: who recorded an event (metadata.actor)
    request_id: str | None = None  # also recorded in each event's metadata
    production: bool = False
    now: dt.datetime = msgspec.field(default_factory=_now)
    tail: Tail | None = None  # the process's tail of the log, for subscriptions
    # a websocket's connection_init payload (strawberry sets it), which may carry the key
    connection_params: dict[str, Any] | None = None

    def may(self, action: str) -> bool:
        """May this request's caller do ``action`` (``ledger.auth.may``)?"""
        return may(action, self.role, production=self.production)

    # -- reading --------------------------------------------------------------------------------

    @cached_property
    def min_position(self) -> int:
        """The ``Ledger-Min-Position`` header's position: every answer of the request reflects
        at least that prefix of the log (0 without the header)."""
        connection = self.request if self.request is not None else self.websocket
        text = connection.headers.get(MIN_POSITION_HEADER) if connection is not None else None
        if text is None or not text.strip():
            return 0
        try:
            position = int(text.strip())
        except ValueError:
            position = -1
        if position < 0:
            raise graphql_error(ValidationError("Ledger-Min-Position", "must be 0 or more"))
        return position

    @cached_property
    def reflected(self) -> Reflected:
        return Reflected()

    def wrote(self, position: int) -> None:
        """A mutation of this operation recorded an event at ``position``."""
        self.reflected.note(position)

    @cached_property
    def _snapshot(self) -> _RequestSnapshot:
        return _RequestSnapshot(
            self.ledger.snapshots,
            self.min_position,
            self.read_wait,
            self.reflected,
            self._project,
            self.ledger.read_primary,
        )

    def _project(self) -> int | None:
        """Catch the read models up for a read that needs it (the ledger's own projector;
        None if another projector is at work)."""
        return self.ledger.projector().run_once()

    @property
    def read_wait(self) -> float:
        """Seconds a read may wait for what it needs (``LEDGER_READ_WAIT_MS``)."""
        settings = getattr(self.ledger, "settings", None)
        wait_ms = getattr(settings, "read_wait_ms", None)
        return queries.READ_WAIT_SECONDS if wait_ms is None else wait_ms / 1000

    async def source(self) -> queries.Source:
        """Where this request's questions read: its snapshot (over a websocket, the engine)."""
        if self.websocket is not None:
            return self.ledger.engine
        return await self._snapshot.get()

    async def basis(self) -> queries.Basis | None:
        """The request's basis, once a question has resolved it (None over a websocket)."""
        source = await self.source()
        return source.basis if isinstance(source, queries.Snapshot) else None

    async def read(
        self,
        fn: Callable[Concatenate[queries.Source, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(source, *args, **kwargs)`` -- a function of ``ledger.queries`` -- off the event
        loop, reading this request's snapshot (over a websocket, a snapshot of the question's
        own, which lives as long as the question)."""
        if self.websocket is None:
            source = await self.source()
            assert isinstance(source, queries.Snapshot)
            return await run(source.answer, fn, *args, **kwargs)
        snapshot = queries.Snapshot(
            self.ledger.engine,
            at_least=self.min_position,
            wait=self.read_wait,
            project=self._project,
        )
        try:
            return await run(snapshot.answer, fn, *args, **kwargs)
        finally:
            self.reflected.note(snapshot.reflected)
            await asyncio.to_thread(snapshot.close)

    def start_operation(self) -> None:
        """Over a websocket the context outlives an operation: each reports its own basis."""
        if self.websocket is not None:
            self.__dict__["reflected"] = Reflected()

    async def end_operation(self) -> None:
        """Give back the operation's snapshot, if a question took one (``OneSnapshot``)."""
        if "_snapshot" in self.__dict__:  # built (cached_property) by a question
            await self._snapshot.end()

    # -- loaders --------------------------------------------------------------------------------

    @cached_property
    def nodes(self) -> DataLoader[NodeKey, Node | None]:
        async def load(keys: list[NodeKey]) -> list[Node | None]:
            return await self.read(_grouped, keys, queries.entities)

        return DataLoader(load_fn=load)

    @cached_property
    def entity_views(self) -> DataLoader[ViewKey, EntityView | None]:
        async def load(keys: list[ViewKey]) -> list[EntityView | None]:
            return await self.read(_grouped, keys, queries.entity_views)

        return DataLoader(load_fn=load)

    @cached_property
    def deals_of(self) -> DataLoader[NodeKey, list[DealView] | None]:
        async def load(keys: list[NodeKey]) -> list[list[DealView] | None]:
            return await self.read(_grouped, keys, queries.deals_of)

        return DataLoader(load_fn=load)

    @cached_property
    def deals(self) -> DataLoader[DealKey, DealView | None]:
        async def load(keys: list[DealKey]) -> list[DealView | None]:
            return await self.read(_grouped, keys, queries.deals_by_id)

        return DataLoader(load_fn=load)

    @cached_property
    def histories(self) -> DataLoader[HistoryKey, list[RecordedEvent] | None]:
        # Raw events from the store, not read models: outside the snapshot, but of its prefix.
        async def load(keys: list[HistoryKey]) -> list[list[RecordedEvent] | None]:
            basis = await self.basis()

            def fetch(
                store: EventStore, streams: list[str], known_at: Known, *, at_position: int | None
            ) -> dict[str, list[RecordedEvent]]:
                return _histories(store, streams, known_at, at_position=at_position, basis=basis)

            return await run(_grouped, self.ledger.store, keys, fetch)

        return DataLoader(load_fn=load)

    @cached_property
    def commands(self) -> Commands:
        return Commands(self.ledger.store)


class OneSnapshot(SchemaExtension):
    """End each operation's snapshot when the operation ends, however it ends; and say in the
    response what it reflects: ``extensions.ledger.position``, the last position of the log
    its answers reflect (for a mutation, the last one it wrote), so a client can cite it and
    ask again at ``atPosition`` for the identical answer."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.start_operation()
        try:
            yield
        finally:
            if isinstance(context, Context):
                await context.end_operation()

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return {}
        if "reflected" not in context.__dict__ or context.reflected.position is None:
            return {}
        return {"ledger": {"position": context.reflected.position}}
