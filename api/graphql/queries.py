"""The questions (spec section 4): thin resolvers over the ledger's query functions.

Resolvers hold no SQL and catch nothing: they read arguments, call ``ledger`` query functions
off the event loop in the request's snapshot (``Context.read``) or through the request's
DataLoaders, and wrap the answers in the view types of ``types``. A bad argument is refused in
the shape of ``errors``' one table, whether the core or the resolver found it. Every read
takes ``asOf`` and ``knownAt`` (default: the moment the request arrived).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from ledger import queries
from ledger.domain import series as series_fold

from .connections import (
    DealConnection,
    DealEdge,
    EventConnection,
    EventEdge,
    PageInfo,
    encode_cursor,
    window,
)
from .context import run
from .errors import refuse
from .measures import (
    CircularFlow,
    ExposureGraph,
    LedgerHead,
    LedgerSpan,
    Loss,
    SeriesPoint,
    StressRound,
    StressTest,
)
from .permissions import CanAudit
from .types import (
    At,
    Basis,
    Deal,
    DealStatus,
    Entity,
    Event,
    Info,
    Interval,
    Metric,
)

MAX_EVENTS_PAGE = 500
PAGE_HELP = "a page of at most 500 (default 50); forward with first/after, back with last/before"


def _at(
    info: Info,
    as_of: dt.datetime | None,
    known_at: dt.datetime | None,
    basis: Basis,
    at_position: int | None = None,
    at_least_position: int | None = None,
) -> At:
    """The point a root field asks at. ``knownAt`` not given is None: the request's basis
    instant, when the ledger resolves which prefix of the log it reads (``ledger.queries``)."""
    for field, value in (("atPosition", at_position), ("atLeastPosition", at_least_position)):
        if value is not None and value < 0:
            raise refuse(field, "must be 0 or more")
    if (
        at_position is not None
        and at_least_position is not None
        and at_position < at_least_position
    ):
        raise refuse("atPosition", f"is before atLeastPosition {at_least_position}")
    return At(
        as_of=as_of or info.context.now,
        known_at=known_at,
        basis=basis,
        position=at_position,
        # A position asked for must be in the ledger: atPosition demands it like atLeastPosition.
        at_least=max(at_position or 0, at_least_position or 0) or None,
    )


AsOf = Annotated[dt.datetime | None, strawberry.argument(description="Valid time (default: now).")]
KnownAt = Annotated[
    dt.datetime | None,
    strawberry.argument(
        description="Knowledge time: what the ledger knew then (default: now, the instant the "
        "request's basis is resolved)."
    ),
]
AtPosition = Annotated[
    int | None,
    strawberry.argument(
        description="Answer as of the log's prefix 1..atPosition (an auditor's kept digest); "
        "with knownAt, both bounds apply."
    ),
]
AtLeastPosition = Annotated[
    int | None,
    strawberry.argument(
        description="The answer reflects at least the log's prefix 1..atLeastPosition (read "
        "your writes: a mutation's position); waits, bounded, until it does. The "
        "Ledger-Min-Position header does the same for every field of a request."
    ),
]


async def _basis_first(info: Info, at: At, batch: Callable[..., Any]) -> None:
    """With ``atLeastPosition``, resolve the basis in the root field itself (by asking ``batch``
    for no ids), so a refusal (knownAt before that position) names this field's arguments;
    the nested fields' loaders then read the same basis."""
    if at.at_least is None:
        return
    await info.context.read(
        batch, [], at.as_of, at.known_at, at_position=at.position, at_least=at.at_least
    )


@strawberry.type
class Query:
    @strawberry.field(description="Entities, live legs and exposures at (asOf, knownAt).")
    async def exposure_graph(
        self,
        info: Info,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
        entity_ids: list[str] | None = None,
        hops: int = 1,
        min_amount_usd: Decimal | None = None,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> ExposureGraph:
        at = _at(info, as_of, known_at, basis, at_position, at_least_position)
        if not 1 <= hops <= 3:
            raise refuse("hops", "must be between 1 and 3")
        g = await info.context.read(
            queries.graph,
            at.as_of,
            at.known_at,
            basis.value,
            entity_ids=entity_ids,
            hops=hops,
            min_amount=min_amount_usd,
            at_position=at.position,
            at_least=at.at_least,
        )
        return ExposureGraph(as_of=at.as_of, known_at=g.known_at, basis=basis, graph=g, at=at)

    @strawberry.field(description="One entity at (asOf, knownAt); null if not registered then.")
    async def entity(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> Entity | None:
        at = _at(info, as_of, known_at, basis, at_position, at_least_position)
        await _basis_first(info, at, queries.entities)
        node = await info.context.nodes.load((str(id), *at.point))
        return Entity.of(node, at) if node else None

    @strawberry.field(description="Deals announced by asOf, by id, a page at a time.")
    async def deals(
        self,
        info: Info,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        entity_id: str | None = None,
        instrument: str | None = None,
        status: DealStatus | None = None,
        first: Annotated[int | None, strawberry.argument(description=PAGE_HELP)] = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> DealConnection:
        at = _at(info, as_of, known_at, Basis.HEADLINE, at_position, at_least_position)
        asked = await run(window, "deal", first, after, last, before, queries.MAX_PAGE)
        page = await info.context.read(
            queries.deals,
            at.as_of,
            at.known_at,
            entity_id=entity_id,
            instrument=instrument,
            status=status.value if status else None,
            first=asked.size,
            after=asked.after,
            last=asked.size if asked.backward else None,
            before=asked.before,
            at_position=at.position,
            at_least=at.at_least,
        )
        return DealConnection(
            edges=[
                DealEdge(cursor=encode_cursor("deal", d.deal_id), node=Deal.of(d, at))
                for d in page.items
            ],
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=encode_cursor("deal", page.start_key) if page.start_key else None,
                end_cursor=encode_cursor("deal", page.end_key) if page.end_key else None,
            ),
        )

    @strawberry.field(description="One deal: legs, funded amounts, status, history.")
    async def deal(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> Deal | None:
        at = _at(info, as_of, known_at, Basis.HEADLINE, at_position, at_least_position)
        await _basis_first(info, at, queries.deals_by_id)
        found = await info.context.deals.load((str(id), *at.point))
        return Deal.of(found, at) if found else None

    @strawberry.field(description="Money-flow cycles of at most six entities, largest first.")
    async def circular_flows(
        self,
        info: Info,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
        min_amount_usd: Decimal = Decimal(0),
        through: str | None = None,
        limit: int = 100,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> list[CircularFlow]:
        at = _at(info, as_of, known_at, basis, at_position, at_least_position)
        if not 1 <= limit <= 1000:
            raise refuse("limit", "must be between 1 and 1000")
        cycles = await info.context.read(
            queries.circular_flows,
            at.as_of,
            at.known_at,
            basis.value,
            min_amount=min_amount_usd,
            through=through,
            limit=limit,
            at_position=at.position,
            at_least=at.at_least,
        )
        return [
            CircularFlow(entity_ids=list(c.entities), amount_usd=c.amount_usd, at=at)
            for c in cycles
        ]

    @strawberry.field(description="Default some entities; follow the losses round by round.")
    async def stress_test(
        self,
        info: Info,
        defaulted: list[str],
        recovery_rate: Decimal,
        threshold: Decimal,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> StressTest:
        at = _at(info, as_of, known_at, basis, at_position, at_least_position)
        result = await info.context.read(
            queries.stress_test,
            defaulted,
            recovery_rate,
            threshold,
            at.as_of,
            at.known_at,
            basis.value,
            at_position=at.position,
            at_least=at.at_least,
        )
        return StressTest(
            rounds=[
                StressRound(
                    number=r.number,
                    defaulted=list(r.defaulted),
                    losses=[
                        Loss(
                            entity_id=x.entity_id,
                            loss_usd=x.loss_usd,
                            share_of_valuation=x.share_of_valuation,
                        )
                        for x in r.losses
                    ],
                    new_defaults=list(r.new_defaults),
                )
                for r in result.rounds
            ],
            defaulted=list(result.defaulted),
        )

    @strawberry.field(description="A metric of one entity at each step from `from` to `to`.")
    async def series(
        self,
        info: Info,
        entity_id: str,
        metric: Metric,
        from_: Annotated[dt.datetime, strawberry.argument(name="from")],
        to: dt.datetime,
        interval: Interval = Interval.MONTH,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
        at_position: AtPosition = None,
        at_least_position: AtLeastPosition = None,
    ) -> list[SeriesPoint]:
        at = _at(info, None, known_at, basis, at_position, at_least_position)
        points = await run(series_fold.points, from_, to, interval.value)
        values = await info.context.read(
            queries.series,
            info.context.ledger.store,
            entity_id,
            metric.value,
            points,
            at.known_at,
            basis.value,
            at_position=at.position,
            at_least=at.at_least,
        )
        return [SeriesPoint(as_of=t, value=v) for t, v in values]

    @strawberry.field(
        description="Raw recorded events, for audits, by position.", permission_classes=[CanAudit]
    )
    async def events(
        self,
        info: Info,
        stream: str | None = None,
        types: list[str] | None = None,
        from_position: int | None = None,
        to_position: int | None = None,
        recorded_from: dt.datetime | None = None,
        recorded_to: dt.datetime | None = None,
        actor: str | None = None,
        first: Annotated[int | None, strawberry.argument(description=PAGE_HELP)] = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EventConnection:
        asked = await run(window, "position", first, after, last, before, MAX_EVENTS_PAGE)
        found = await run(
            info.context.ledger.store.find,
            stream=stream,
            types=types,
            from_position=from_position,
            to_position=to_position,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            actor=actor,
            after=_position(asked.after, "after") or 0,
            before=_position(asked.before, "before"),
            newest_first=asked.backward,
            limit=asked.size + 1,
        )
        more = len(found) > asked.size
        page = found[: asked.size]
        if asked.backward:
            page.reverse()
        cursors = [encode_cursor("position", str(e.position)) for e in page]
        return EventConnection(
            edges=[
                EventEdge(cursor=c, node=Event.of(e)) for c, e in zip(cursors, page, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=asked.before is not None if asked.backward else more,
                has_previous_page=more if asked.backward else asked.after is not None,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
        )

    @strawberry.field(description="The ledger's head: the digest an auditor keeps.")
    async def ledger_head(self, info: Info) -> LedgerHead:
        head = await run(info.context.ledger.store.head)
        info.context.reflected.note(head.position)
        return LedgerHead(
            position=head.position,
            hash=head.hash,
            recorded_at=head.recorded_at,
            digest=str(head.digest),
        )

    @strawberry.field(
        description="The valid time the projected history covers (null while it is empty): "
        "the range of a time slider, without paging through events."
    )
    async def ledger_span(self, info: Info) -> LedgerSpan | None:
        span = await info.context.read(queries.span)
        if span is None:
            return None
        return LedgerSpan(
            first_effective_at=span.first_effective_at,
            first_activity_at=span.first_activity_at,
            last_effective_at=span.last_effective_at,
        )


def _position(key: str | None, field: str) -> int | None:
    """A position cursor's key; a forged one that is not a number is refused by name."""
    if key is None:
        return None
    if not key.isdigit():
        raise refuse(field, "is not a cursor of this list")
    return int(key)
