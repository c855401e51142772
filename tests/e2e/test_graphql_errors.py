"""Every bad argument, in every resolver, answers with one error shape: ``extensions.code`` is
``BAD_USER_INPUT`` and ``extensions.field`` names the argument as the API spells it — whether
the resolver, the core, a scalar, an enum or the variables' coercion refused it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Server, clean_env


@pytest.fixture(scope="module")
def server(pg_admin_url: str, template_database: str) -> Iterator[Server]:
    from tests.conftest import _fresh_database

    for database in _fresh_database(pg_admin_url, template_database):
        env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true")
        with Server(env) as running:
            yield running


def ask(server: Server, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql", json={"query": query, "variables": variables}, timeout=30
    )
    assert response.status_code < 500, response.text
    return response.json()


SERIES = '{ series(entityId: "openai", metric: VALUATION, from: "2025-01-01", to: "2025-06-01"'

# (what is asked, the argument the answer must name)
BAD_ARGUMENTS = [
    ("{ exposureGraph(hops: 9) { edges { dealId } } }", "hops"),
    ('{ exposureGraph(asOf: "2025-01-01T00:00:00") { edges { dealId } } }', "asOf"),
    ("{ exposureGraph(basis: SOMETIMES) { edges { dealId } } }", "basis"),
    ('{ exposureGraph(minAmountUsd: "lots") { edges { dealId } } }', "minAmountUsd"),
    ("{ exposureGraph(minAmountUsd: 1.5) { edges { dealId } } }", "minAmountUsd"),
    ('{ entity(id: "\\u0000") { id } }', "id"),
    ('{ entity(id: "openai", knownAt: "yesterday") { id } }', "knownAt"),
    ("{ deals(first: 100000) { edges { cursor } } }", "first"),
    ('{ deals(after: "bm9wZTox") { edges { cursor } } }', "after"),
    ("{ deals(first: 99999999999) { edges { cursor } } }", "first"),
    ('{ deal(id: "x", asOf: "0001-01-01T00:00:00+05:30") { id } }', "asOf"),
    ("{ circularFlows(limit: 0) { amountUsd } }", "limit"),
    (
        '{ stressTest(defaulted: ["openai"], recoveryRate: "half", threshold: "0.5") '
        "{ defaulted } }",
        "recoveryRate",
    ),
    (SERIES + ", interval: FORTNIGHT) { value } }", "interval"),
    (
        '{ series(entityId: "openai", metric: VALUATION, from: "2025-06-01", to: "2025-01-01")'
        " { value } }",
        "to",
    ),
    ("{ events(first: 0) { edges { cursor } } }", "first"),
    ('{ events(after: "garbage") { edges { cursor } } }', "after"),
    (
        'mutation { registerEntity(entityId: "x", name: "X", kind: "company", '
        'effectiveAt: "someday", source: {url: "https://example.org"}) { __typename } }',
        "effectiveAt",
    ),
    (
        'mutation { registerEntity(entityId: "x", name: "X", kind: "company", '
        'effectiveAt: "2025-01-01", source: {url: 7}) { __typename } }',
        "source.url",
    ),
]


@pytest.mark.parametrize(("query", "field"), BAD_ARGUMENTS, ids=[f for _, f in BAD_ARGUMENTS])
def test_a_bad_argument_is_named_the_same_way_everywhere(
    server: Server, query: str, field: str
) -> None:
    answer = ask(server, query)
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field, error
    assert "SELECT" not in error["message"] and "Traceback" not in error["message"]


BAD_VARIABLES = [
    ("query($t: DateTime) { exposureGraph(asOf: $t) { edges { dealId } } }", {"t": "x"}, "asOf"),
    ("query($n: Int!) { deals(first: $n) { edges { cursor } } }", {"n": "ten"}, "first"),
    (
        'mutation($v: Decimal!) { reportValuation(entityId: "openai", valuationUsd: $v, '
        'basis: "estimate", effectiveAt: "2025-01-01", source: {title: "t"}) { __typename } }',
        {"v": 1.5},
        "valuationUsd",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "field"), BAD_VARIABLES, ids=[f for *_, f in BAD_VARIABLES]
)
def test_a_bad_variable_names_the_argument_it_was_passed_to(
    server: Server, query: str, variables: dict[str, Any], field: str
) -> None:
    (error,) = ask(server, query, **variables)["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field, error


def test_an_unknown_field_is_a_validation_failure_not_bad_input(server: Server) -> None:
    (error,) = ask(server, "{ ledgerHead { nonsense } }")["errors"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
