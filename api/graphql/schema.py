"""The GraphQL schema (spec section 4): thin resolvers over ``ledger`` query and command functions.

Resolvers hold no SQL: they read arguments, call ``ledger.read_models.queries`` (or the
commands) off the event loop, and wrap the answers in the view types of ``types``. Every
read takes ``asOf`` and ``knownAt`` (default: the moment the request arrived).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncGenerator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from sqlalchemy.exc import DataError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig

from ledger.domain import series as series_fold
from ledger.domain.errors import DuplicateEvent, LedgerError, NotFound, ValidationError
from ledger.domain.errors import VersionConflict as VersionConflictError
from ledger.domain.money import format_usd
from ledger.read_models import queries

from ..observability import EVENTS_APPENDED
from .context import run
from .errors import DatabaseInputErrors, RefuseNul, bad_database_input
from .scalars import DateTime, DecimalScalar
from .types import (
    At,
    Basis,
    CircularFlow,
    Deal,
    DealConnection,
    DealEdge,
    DealStatus,
    Entity,
    Event,
    EventConnection,
    EventEdge,
    ExposureGraph,
    Info,
    Interval,
    LedgerHead,
    LedgerSpan,
    Loss,
    Metric,
    PageInfo,
    SeriesPoint,
    StressRound,
    StressTest,
    decode_cursor,
    encode_cursor,
)

SDL_PATH = Path(__file__).resolve().parents[1] / "schema.graphql"
DEFAULT_PAGE = 50
MAX_EVENTS_PAGE = 500


def _at(info: Info, as_of: dt.datetime | None, known_at: dt.datetime | None, basis: Basis) -> At:
    now = info.context.now
    return At(as_of=as_of or now, known_at=known_at or now, basis=basis)


def _bad_input(exc: Exception) -> GraphQLError:
    field = getattr(exc, "field", None)
    extensions = {"code": "BAD_USER_INPUT"} | ({"field": field} if field else {})
    return GraphQLError(str(exc), extensions=extensions)


async def _ask(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a query function; bad arguments become a GraphQL error that names them."""
    try:
        return await run(fn, *args, **kwargs)
    except (ValueError, ValidationError) as exc:
        raise _bad_input(exc) from None
    except NotFound as exc:
        raise GraphQLError(str(exc), extensions={"code": "NOT_FOUND"}) from None
    except DataError as exc:  # input PostgreSQL cannot take: say so, no SQL
        raise bad_database_input(exc) from None


AsOf = Annotated[dt.datetime | None, strawberry.argument(description="Valid time (default: now).")]
KnownAt = Annotated[
    dt.datetime | None,
    strawberry.argument(description="Knowledge time: what the ledger knew then (default: now)."),
]


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
    ) -> ExposureGraph:
        at = _at(info, as_of, known_at, basis)
        if not 1 <= hops <= 3:
            raise GraphQLError("hops must be between 1 and 3", extensions={"field": "hops"})
        g = await _ask(
            queries.graph,
            info.context.ledger.engine,
            at.as_of,
            at.known_at,
            basis.value,
            entity_ids=entity_ids,
            hops=hops,
            min_amount=min_amount_usd,
        )
        return ExposureGraph(as_of=at.as_of, known_at=at.known_at, basis=basis, graph=g, at=at)

    @strawberry.field(description="One entity at (asOf, knownAt); null if not registered then.")
    async def entity(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        basis: Basis = Basis.HEADLINE,
    ) -> Entity | None:
        at = _at(info, as_of, known_at, basis)
        node = await info.context.nodes.load((str(id), at.as_of, at.known_at))
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
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> DealConnection:
        at = _at(info, as_of, known_at, Basis.HEADLINE)
        try:
            after_key = decode_cursor("deal", after)
        except ValidationError as exc:
            raise _bad_input(exc) from None
        page = await _ask(
            queries.deals,
            info.context.ledger.engine,
            at.as_of,
            at.known_at,
            entity_id=entity_id,
            instrument=instrument,
            status=status.value if status else None,
            first=first,
            after=after_key,
        )
        return DealConnection(
            edges=[
                DealEdge(cursor=encode_cursor("deal", d.deal_id), node=Deal.of(d, at))
                for d in page.items
            ],
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=encode_cursor("deal", page.end_key) if page.end_key else None,
            ),
        )

    @strawberry.field(description="One deal: legs, funded amounts, status, history.")
    async def deal(
        self, info: Info, id: strawberry.ID, as_of: AsOf = None, known_at: KnownAt = None
    ) -> Deal | None:
        at = _at(info, as_of, known_at, Basis.HEADLINE)
        found = await info.context.deals.load((str(id), at.as_of, at.known_at))
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
    ) -> list[CircularFlow]:
        at = _at(info, as_of, known_at, basis)
        if not 1 <= limit <= 1000:
            raise GraphQLError("limit must be between 1 and 1000", extensions={"field": "limit"})
        cycles = await _ask(
            queries.circular_flows,
            info.context.ledger.engine,
            at.as_of,
            at.known_at,
            basis.value,
            min_amount=min_amount_usd,
            through=through,
            limit=limit,
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
    ) -> StressTest:
        at = _at(info, as_of, known_at, basis)
        result = await _ask(
            queries.stress_test,
            info.context.ledger.engine,
            defaulted,
            recovery_rate,
            threshold,
            at.as_of,
            at.known_at,
            basis.value,
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
    ) -> list[SeriesPoint]:
        at = _at(info, None, known_at, basis)
        try:
            points = series_fold.points(from_, to, interval.value)
        except ValueError as exc:
            raise _bad_input(exc) from None
        values = await _ask(
            queries.series,
            info.context.ledger.engine,
            info.context.ledger.store,
            entity_id,
            metric.value,
            points,
            at.known_at,
            basis.value,
        )
        return [SeriesPoint(as_of=t, value=v) for t, v in values]

    @strawberry.field(description="Raw recorded events, for audits, by position.")
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
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> EventConnection:
        if not info.context.may("audit"):
            raise GraphQLError(
                "the raw event log needs an auditor's API key", extensions={"code": "FORBIDDEN"}
            )
        if not 1 <= first <= MAX_EVENTS_PAGE:
            raise GraphQLError(
                f"first must be between 1 and {MAX_EVENTS_PAGE}", extensions={"field": "first"}
            )
        try:
            key = decode_cursor("position", after)
        except ValidationError as exc:
            raise _bad_input(exc) from None
        found = await _ask(
            info.context.ledger.store.find,
            stream=stream,
            types=types,
            from_position=from_position,
            to_position=to_position,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            actor=actor,
            after=int(key) if key else 0,
            limit=first + 1,
        )
        page = found[:first]
        end = encode_cursor("position", str(page[-1].position)) if page else None
        return EventConnection(
            edges=[
                EventEdge(cursor=encode_cursor("position", str(e.position)), node=Event.of(e))
                for e in page
            ],
            page_info=PageInfo(has_next_page=len(found) > first, end_cursor=end),
        )

    @strawberry.field(description="The ledger's head: the digest an auditor keeps.")
    async def ledger_head(self, info: Info) -> LedgerHead:
        head = await run(info.context.ledger.store.head)
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
        span = await run(queries.span, info.context.ledger.engine)
        if span is None:
            return None
        return LedgerSpan(
            first_effective_at=span.first_effective_at,
            first_activity_at=span.first_activity_at,
            last_effective_at=span.last_effective_at,
        )


# -- mutations ----------------------------------------------------------------------------------


@strawberry.type
class Recorded:
    event: Event


@strawberry.type(name="ValidationError")
class ValidationProblem:
    field: str
    message: str


@strawberry.type(name="VersionConflict")
class ConflictProblem:
    stream: str
    expected_version: int
    current_version: int
    message: str


@strawberry.type(name="NotFound")
class NotFoundProblem:
    message: str


@strawberry.type(name="Forbidden")
class ForbiddenProblem:
    message: str


RecordResult = Annotated[
    Recorded | ValidationProblem | ConflictProblem | NotFoundProblem | ForbiddenProblem,
    strawberry.union("RecordResult"),
]


@strawberry.input
class SourceInput:
    url: str | None = None
    title: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            k: v for k, v in (("url", self.url), ("title", self.title), ("note", self.note)) if v
        }


@strawberry.input
class LegInput:
    leg: str
    payer: str
    payee: str
    instrument: str
    headline_usd: Decimal | None = None
    committed_usd: Decimal | None = None
    capacity_gw: Decimal | None = None
    shares: Decimal | None = None
    term_start: dt.date | None = None
    term_end: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "leg": self.leg,
            "payer": self.payer,
            "payee": self.payee,
            "instrument": self.instrument,
        }
        for key in ("headline_usd", "committed_usd", "capacity_gw", "shares"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _amount(value)
        for key in ("term_start", "term_end"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value.isoformat()
        return out


def _amount(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format_usd(value) if value.is_finite() else str(value)


async def _record(info: Info, command: str, **arguments: Any) -> RecordResult:
    """Run a command; the domain's refusals become typed results, nothing partial is written."""
    options = {
        k: arguments.pop(k)
        for k in ("event_id", "expected_version", "metadata")
        if arguments.get(k) is not None
    }
    if "event_id" in options:
        try:
            options["event_id"] = uuid.UUID(str(options["event_id"]))
        except ValueError:
            return ValidationProblem(field="eventId", message="eventId: must be a UUID")
    source = arguments.pop("source")
    # Who recorded it, from the key, not from the client: the audit trail cannot be forged.
    context = info.context
    trail = {"actor": context.actor or "anonymous", "actor_role": context.role or "none"}
    if context.request_id:
        trail["request_id"] = context.request_id
    given = options.get("metadata", arguments.pop("metadata", None))
    given = {} if given is None else given
    if not isinstance(given, dict):
        return ValidationProblem(field="metadata", message="metadata: must be an object")
    options["metadata"] = {**given, **trail}
    if not info.context.may("write"):
        return ForbiddenProblem(
            message="recording events needs a writer's API key "
            "(Authorization: Bearer <key>; `ledger keys create --role writer`)"
        )
    try:
        recorded = await run(
            getattr(info.context.commands, command),
            source=source.as_dict(),
            **arguments,
            **options,
        )
    except ValidationError as exc:
        field = _api_field(exc.field)
        return ValidationProblem(field=field, message=f"{field}: {exc.reason}")
    except VersionConflictError as exc:
        return ConflictProblem(
            stream=exc.stream,
            expected_version=exc.expected,
            current_version=exc.current,
            message=str(exc),
        )
    except DuplicateEvent as exc:
        return ValidationProblem(field="eventId", message=str(exc))
    except NotFound as exc:
        return NotFoundProblem(message=str(exc))
    except LedgerError as exc:  # pragma: no cover - every refusal above is typed
        return ValidationProblem(field="", message=str(exc))
    EVENTS_APPENDED.labels(recorded.type).inc()
    return Recorded(event=Event.of(recorded))


EffectiveAt = Annotated[
    dt.datetime, strawberry.argument(description="When the fact became true in the world.")
]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def register_entity(
        self,
        info: Info,
        entity_id: str,
        name: str,
        kind: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        ticker: str | None = None,
        country: str | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "register_entity", **_arguments(locals()))

    @strawberry.mutation
    async def rename_entity(
        self,
        info: Info,
        entity_id: str,
        name: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "rename_entity", **_arguments(locals()))

    @strawberry.mutation
    async def report_valuation(
        self,
        info: Info,
        entity_id: str,
        valuation_usd: Decimal,
        basis: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        round_size_usd: Decimal | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "report_valuation", **_arguments(locals()))

    @strawberry.mutation
    async def report_revenue(
        self,
        info: Info,
        entity_id: str,
        period_start: dt.date,
        period_end: dt.date,
        revenue_usd: Decimal,
        effective_at: EffectiveAt,
        source: SourceInput,
        forecast: bool = False,
        net_income_usd: Decimal | None = None,
        cash_burn_usd: Decimal | None = None,
        rnd_usd: Decimal | None = None,
        cash_usd: Decimal | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "report_revenue", **_arguments(locals()))

    @strawberry.mutation
    async def announce_deal(
        self,
        info: Info,
        deal_id: str,
        title: str,
        legs: list[LegInput],
        effective_at: EffectiveAt,
        source: SourceInput,
        conditions: str | None = None,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "announce_deal", **_arguments(locals()))

    @strawberry.mutation
    async def amend_deal(
        self,
        info: Info,
        deal_id: str,
        legs: list[LegInput],
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "amend_deal", **_arguments(locals()))

    @strawberry.mutation
    async def fund_tranche(
        self,
        info: Info,
        deal_id: str,
        leg: str,
        amount_usd: Decimal,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "fund_tranche", **_arguments(locals()))

    @strawberry.mutation
    async def terminate_deal(
        self,
        info: Info,
        deal_id: str,
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "terminate_deal", **_arguments(locals()))

    @strawberry.mutation
    async def retract_event(
        self,
        info: Info,
        target_event_id: strawberry.ID,
        reason: str,
        effective_at: EffectiveAt,
        source: SourceInput,
        expected_version: int | None = None,
        event_id: strawberry.ID | None = None,
        metadata: JSON | None = None,
    ) -> RecordResult:
        return await _record(info, "retract_event", **_arguments(locals()))


def _api_field(field: str) -> str:
    """A domain field path as the API's arguments name it: ``events[0].data.legs[1].payee``
    and ``data.legs[1].payee`` become ``legs[1].payee``; snake_case becomes camelCase."""
    field = re.sub(r"^events\[\d+\]\.", "", field)
    field = re.sub(r"^data\.", "", field)
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)


def _arguments(local: dict[str, Any]) -> dict[str, Any]:
    """A mutation's arguments as the command takes them: amounts as canonical text, legs and
    dates as the event's data has them."""
    out: dict[str, Any] = {}
    for key, value in local.items():
        if key in ("self", "info"):
            continue
        if isinstance(value, Decimal):
            value = _amount(value)
        elif key == "legs":
            value = [leg.as_dict() for leg in value]
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = value.isoformat()
        elif key == "target_event_id":
            value = str(value)
        out[key] = value
    return out


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each event as it is recorded (after its commit), optionally only of some "
        "types; from `afterPosition` when given (to resume after a reconnect), else from now."
    )
    async def event_recorded(
        self,
        info: Info,
        types: list[str] | None = None,
        after_position: int | None = None,
    ) -> AsyncGenerator[Event, None]:
        if not info.context.may("audit"):
            raise GraphQLError(
                "the raw event log needs an auditor's API key", extensions={"code": "FORBIDDEN"}
            )
        if after_position is not None and after_position < 0:
            raise GraphQLError(
                "afterPosition must be 0 or more", extensions={"field": "afterPosition"}
            )
        wanted = set(types) if types else None
        async for event in info.context.tail.follow(after_position):
            if wanted is None or event.type in wanted:
                yield Event.of(event)


# Limits on what one request may ask, so no query can hold the server (issue: protection).
MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_TOKENS = 4000


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema; production turns introspection off (clients there know the schema).

    The limits' validation rules are built once, not per request: the same rule classes on
    every request let ``ValidationCache`` answer a repeated query without validating it again
    (with ``ParserCache``, that halves the CPU of a small query; see docs/performance.md).
    """
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        RefuseNul,
        DatabaseInputErrors,
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map={dt.datetime: DateTime, Decimal: DecimalScalar}),
        extensions=extensions,
    )


schema = build_schema()


def export_sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":  # python -m api.graphql.schema: refresh api/schema.graphql
    SDL_PATH.write_text(export_sdl())
    print(f"wrote {SDL_PATH}")
