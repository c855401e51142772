"""Nested GraphQL fields are batched: the number of SQL statements does not grow with the
number of nodes (no N+1)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import event

from api.graphql.context import Context
from api.graphql.schema import build_schema
from ledger.domain.views import Graph
from ledger.projections.projector import Projector
from ledger.runtime import Ledger
from ledger.store import EventStore
from tests.conftest import TestDatabase
from tests.factories import announced, registered, valuation

SCHEMA = build_schema()

QUERY = """
{ exposureGraph(asOf: "2026-01-01") {
    nodes { id valuations { valuationUsd } deals { id legs { payer { name } } } }
    edges { deal { title } payer { name } }
} }
"""


def star(store: EventStore, spokes: int, offset: int) -> None:
    store.append("entity/hub", [registered("hub")]) if offset == 0 else None
    for i in range(offset, offset + spokes):
        entity_id = f"spoke{i}"
        store.append(f"entity/{entity_id}", [registered(entity_id), valuation("1", entity_id)])
        store.append(f"deal/d{i}", [announced(f"d{i}", "hub", entity_id)])


def ask(database: TestDatabase, store: EventStore, query: str) -> dict[str, Any]:
    """``query``, answered in process by the schema the API serves."""
    ledger = Ledger(
        settings=None,
        owner_engine=database.owner_engine,  # type: ignore[arg-type]
        engine=database.app_engine,
        store=store,
    )
    context = Context(ledger=ledger, now=dt.datetime.now(dt.UTC))
    result = asyncio.run(SCHEMA.execute(query, context_value=context))
    assert result.errors is None, result.errors
    return result.data


def statements(
    database: TestDatabase, store: EventStore, query: str = QUERY
) -> tuple[int, dict[str, Any]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    Projector(database.app_engine, store).run_once()
    event.listen(database.app_engine, "before_cursor_execute", count)
    try:
        data = ask(database, store, query)
    finally:
        event.remove(database.app_engine, "before_cursor_execute", count)
    return len(seen), data


def test_a_nested_query_costs_the_same_statements_for_3_nodes_as_for_12(
    database: TestDatabase, store: EventStore
) -> None:
    star(store, 3, 0)
    small, data = statements(database, store)
    assert len(data["exposureGraph"]["nodes"]) == 4
    star(store, 9, 3)
    large, data = statements(database, store)
    assert len(data["exposureGraph"]["nodes"]) == 13
    assert all(n["valuations"] or n["id"] == "hub" for n in data["exposureGraph"]["nodes"])
    assert large == small


def test_a_graph_query_builds_only_the_lists_it_asks_for(
    database: TestDatabase, store: EventStore, monkeypatch: Any
) -> None:
    # Around a hub the graph holds a hundred thousand legs: ranking its exposures for a
    # client that asked only for nodes and edges doubled the API's CPU per answer.
    star(store, 3, 0)
    Projector(database.app_engine, store).run_once()
    ranked: list[int] = []
    original = Graph.exposures
    monkeypatch.setattr(Graph, "exposures", lambda g: ranked.append(1) or original(g))

    graph = ask(
        database, store, '{ exposureGraph(asOf: "2026-01-01") { nodes { id } edges { leg } } }'
    )
    assert len(graph["exposureGraph"]["edges"]) == 3
    assert ranked == []
    graph = ask(
        database, store, '{ exposureGraph(asOf: "2026-01-01") { exposures { amountUsd } } }'
    )
    assert len(graph["exposureGraph"]["exposures"]) == 3
    assert ranked == [1]


def test_nested_payers_and_payees_are_the_graph_s_own_nodes_not_a_second_query(
    database: TestDatabase, store: EventStore
) -> None:
    star(store, 3, 0)
    flat, _ = statements(
        database, store, '{ exposureGraph(asOf: "2026-01-01") { edges { payerId payeeId } } }'
    )
    nested, data = statements(
        database,
        store,
        '{ exposureGraph(asOf: "2026-01-01") { edges { payer { name } payee { name } } } }',
    )
    assert {e["payee"]["name"] for e in data["exposureGraph"]["edges"]} == {
        "Spoke0",
        "Spoke1",
        "Spoke2",
    }
    assert nested == flat
