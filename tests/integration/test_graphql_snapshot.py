"""One GraphQL request reads one snapshot of the read models: a nested field never sees a
newer projection than its root, the graph at one point is built once, and a burst of requests
larger than the connection pool neither stalls nor fails."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from api.graphql.context import Context
from api.graphql.schema import build_schema
from ledger.domain.envelope import NewEvent
from ledger.projections.projector import Projector
from ledger.queries.graph import _EDGES_ALL, _EDGES_ALL_AT_LEAST, _NODES_ALL
from ledger.runtime import Ledger
from ledger.store import EventStore
from ledger.store.engine import libpq_url, make_engine
from tests.conftest import APP_ROLE, TestDatabase
from tests.factories import SOURCE, announced, registered, valuation

SCHEMA = build_schema()


def star(store: EventStore, spokes: int) -> None:
    """A hub paying ``spokes`` entities, one deal each, and every spoke paying the hub back
    a little (so there are cycles)."""
    store.append("entity/hub", [registered("hub"), valuation("1000000000000", "hub")])
    for i in range(spokes):
        spoke = f"spoke{i}"
        store.append(f"entity/{spoke}", [registered(spoke), valuation("1000000000", spoke)])
        store.append(f"deal/d{i}", [announced(f"d{i}", "hub", spoke)])
        store.append(f"deal/r{i}", [announced(f"r{i}", spoke, "hub", headline_usd=str(i + 1))])


def terminated(deal_id: str) -> NewEvent:
    return NewEvent(
        type="DealTerminated",
        data={"deal_id": deal_id, "reason": "called off"},
        effective_at=dt.datetime(2025, 12, 1, tzinfo=dt.UTC),
        source=SOURCE,
    )


def context_of(engine: Engine, store: EventStore) -> Context:
    ledger = Ledger(
        settings=None,  # type: ignore[arg-type]
        owner_engine=engine,
        engine=engine,
        store=store,
    )
    return Context(ledger=ledger, now=dt.datetime.now(dt.UTC))


def ask(context: Context, query: str) -> dict[str, Any]:
    result = asyncio.run(SCHEMA.execute(query, context_value=context))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def counting(engine: Engine) -> tuple[list[str], Callable[[], None]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_a_nested_field_never_sees_a_newer_projection_than_its_root(
    database: TestDatabase, store: EventStore
) -> None:
    star(store, 3)
    Projector(database.app_engine, store).run_once()
    context = context_of(database.app_engine, store)
    projected: list[int] = []
    load = context.deals.load

    def project_then_load(key: Any) -> Any:
        # Recorded and projected after the root has read, before the nested field reads.
        if not projected:
            for i in range(3):
                store.append(f"deal/d{i}", [terminated(f"d{i}")])
            projected.append(Projector(database.app_engine, store).run_once())
        return load(key)

    context.deals.load = project_then_load  # type: ignore[method-assign]

    data = ask(
        context, '{ exposureGraph(asOf: "2026-01-01") { edges { dealId deal { status } } } }'
    )

    assert projected and projected[0] > 0  # the projector did commit in between
    edges = [e for e in data["exposureGraph"]["edges"] if e["dealId"].startswith("d")]
    assert len(edges) == 3  # the root's snapshot: the deals still live
    assert [e["deal"]["status"] for e in edges] == ["LIVE"] * 3  # and so for the nested field
    # A request after the commit sees the terminations, root and nested alike.
    after = ask(
        context_of(database.app_engine, store),
        '{ deal(id: "d0", asOf: "2026-01-01") { status } '
        'exposureGraph(asOf: "2026-01-01") { edges { dealId } } }',
    )
    assert after["deal"]["status"] == "TERMINATED"
    assert not [e for e in after["exposureGraph"]["edges"] if e["dealId"].startswith("d")]


FIELDS_AT_ONE_POINT = [
    'exposureGraph(asOf: "2026-01-01") { nodes { id } edges { dealId amountUsd } }',
    'bigOnly: exposureGraph(asOf: "2026-01-01", minAmountUsd: "2") { nodes { id } edges { dealId } }',
    'circularFlows(asOf: "2026-01-01") { entityIds amountUsd }',
    'bigCycles: circularFlows(asOf: "2026-01-01", minAmountUsd: "2") { entityIds amountUsd }',
    'stressTest(asOf: "2026-01-01", defaulted: ["hub"], recoveryRate: "0.5", threshold: "0.1") '
    "{ defaulted rounds { number newDefaults } }",
]


def test_the_graph_at_one_point_is_built_once_per_request(
    database: TestDatabase, store: EventStore
) -> None:
    star(store, 4)
    Projector(database.app_engine, store).run_once()
    seen, stop = counting(database.app_engine)
    try:
        together = ask(
            context_of(database.app_engine, store), "{ " + " ".join(FIELDS_AT_ONE_POINT) + " }"
        )
    finally:
        stop()
    assert seen.count(_EDGES_ALL) + seen.count(_EDGES_ALL_AT_LEAST) == 1
    assert seen.count(_NODES_ALL) == 1
    # Each field answers as it does alone, in a request of its own.
    alone: dict[str, Any] = {}
    for field in FIELDS_AT_ONE_POINT:
        alone |= ask(context_of(database.app_engine, store), "{ " + field + " }")
    assert together == alone
    assert len(together["circularFlows"]) == 4
    assert len(together["bigCycles"]) == 3  # the cycle through r0 (amount 1) is below 2
    assert len(together["bigOnly"]["edges"]) == 7


NESTED = """{
  exposureGraph(asOf: "2026-01-01") {
    nodes { id valuations { valuationUsd } deals { id history { type } } }
    edges { deal { title } }
  }
}"""


def test_a_burst_of_requests_larger_than_the_pool_is_answered(
    database: TestDatabase, store: EventStore
) -> None:
    # Each request holds a pooled connection for its snapshot, and its nested histories
    # take a second one from the same pool: two connections in all here, for 12 requests
    # sharing 6 worker threads.
    star(store, 3)
    Projector(database.app_engine, store).run_once()
    url = libpq_url(database.app_engine)
    small = make_engine(url, app_role=APP_ROLE, pool_size=1)
    try:
        small_store = EventStore(small)
        expected = ask(context_of(small, small_store), NESTED)

        async def burst() -> list[Any]:
            return await asyncio.wait_for(
                asyncio.gather(
                    *(
                        SCHEMA.execute(NESTED, context_value=context_of(small, small_store))
                        for _ in range(12)
                    )
                ),
                timeout=20,  # the pool's own wait is 30 s: a stall fails here first
            )

        results = asyncio.run(burst())
        assert [r.errors for r in results] == [None] * 12
        assert all(r.data == expected for r in results)
        assert small.pool.checkedout() == 0  # every snapshot was given back
    finally:
        small.dispose()
