"""Bad input, by hand, through the real API: wrong types, huge numbers, deep nesting, 10,000
aliases, megabyte strings, invalid dates, SQL and script injection in every text field, unknown
ids. Never a 5xx, never a partial write, and every error names the problem.

(The generated side of the same promise, 1,000 operations per run from the schema, is
``tests/e2e/test_graphql_fuzz.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Server, clean_env
from tests.e2e.test_graphql import create_key

pytestmark = pytest.mark.reliability

INJECTIONS = [
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "<script>alert('x')</script>",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "../../etc/passwd",
    "Robert'); DELETE FROM api_keys;--",
]


class Client:
    def __init__(self, server: Server, key: str) -> None:
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def post(self, query: str, **variables: Any) -> httpx.Response:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code < 500, response.text
        return response

    def answer(self, query: str, **variables: Any) -> dict[str, Any]:
        return self.post(query, **variables).json()

    def head(self) -> int:
        return self.answer("{ ledgerHead { position } }")["data"]["ledgerHead"]["position"]


@pytest.fixture(scope="module")
def api(pg_admin_url: str, template_database: str) -> Iterator[Client]:
    """One seeded server for the module: each case is a request, not a setup."""
    from tests.conftest import _fresh_database

    for database in _fresh_database(pg_admin_url, template_database):
        env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true")
        key = create_key(env, "writer")
        with Server(env) as server:
            yield Client(server, key)


def refused(answer: dict[str, Any], *words: str) -> str:
    """The error message of a refused request (top-level or typed), checked to name ``words``."""
    if answer.get("errors"):
        message = " | ".join(e["message"] for e in answer["errors"])
    else:
        (result,) = answer["data"].values()
        assert result.get("__typename") != "Recorded", answer
        message = result.get("message", "")
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


REGISTER = """mutation($id: String!, $name: String!, $source: SourceInput!) {
  registerEntity(entityId: $id, name: $name, kind: "company", effectiveAt: "2025-01-01",
                 source: $source) {
    __typename ... on ValidationError { field message } ... on Recorded { event { position } }
  }
}"""


def test_wrong_types_are_named(api: Client) -> None:
    before = api.head()
    answer = api.answer(
        'mutation { registerEntity(entityId: 5, name: "x", kind: "company", '
        'effectiveAt: "2025-01-01", source: {url: "https://x.org"}) { __typename } }'
    )
    refused(answer, "String cannot represent")
    answer = api.answer(
        '{ deals(first: "ten") { edges { cursor } } }',
    )
    refused(answer, "Int cannot represent")
    assert api.head() == before


def test_huge_numbers_are_refused_with_their_limit(api: Client) -> None:
    before = api.head()
    answer = api.answer(
        """mutation($v: Decimal!) { reportValuation(entityId: "openai", valuationUsd: $v,
             basis: "estimate", effectiveAt: "2025-01-01", source: {title: "t"}) {
             __typename ... on ValidationError { field message } } }""",
        v="1" + "0" * 35,
    )
    refused(answer, "valuationUsd", "at most 30 digits")
    answer = api.answer("{ deals(first: 99999999999) { edges { cursor } } }")
    refused(answer, "Int cannot represent non 32-bit signed integer")
    answer = api.answer("{ deals(first: 100000) { edges { cursor } } }")
    refused(answer, "first must be between 1 and 500")
    assert api.head() == before


def test_deep_nesting_and_ten_thousand_aliases_are_refused(api: Client) -> None:
    deep = "{ exposureGraph { nodes { deals { legs { payer { deals { legs { payer { deals { legs { payer { id } } } } } } } } } } } }"
    refused(api.answer(deep), "exceeds maximum operation depth")
    aliases = "{ " + " ".join(f"a{i}: ledgerHead {{ position }}" for i in range(10_000)) + " }"
    response = api.http.post("/graphql", json={"query": aliases})
    assert response.status_code in (200, 400, 413), response.status_code
    body = response.text.lower()
    assert "alias" in body or "token" in body or "too large" in body or "exceeds" in body


def test_megabyte_strings_are_refused_before_anything_is_read(api: Client) -> None:
    before = api.head()
    response = api.http.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {"id": "big", "name": "x" * 1_000_000, "source": {"url": "https://x.org"}},
        },
    )
    assert response.status_code == 413
    # under the body limit but over a field's: named
    answer = api.answer(REGISTER, id="big", name="x" * 100_000, source={"url": "https://x.org"})
    refused(answer, "name", "at most 2000 characters")
    assert api.head() == before


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2025-13-45", ["not an ISO-8601 date"]),
        ("yesterday", ["not an ISO-8601 date"]),
        ("2025-01-01T00:00", ["has no timezone"]),
        ("0001-01-01T00:00:00+05:00", ["out of range"]),
    ],
)
def test_invalid_dates_are_named(api: Client, value: str, words: list[str]) -> None:
    before = api.head()
    answer = api.answer(
        """mutation($t: DateTime!) { registerEntity(entityId: "dated", name: "D", kind: "company",
             effectiveAt: $t, source: {title: "t"}) { __typename } }""",
        t=value,
    )
    refused(answer, *words)
    refused(
        api.answer(
            'query($t: DateTime) { ledgerHead { position } entity(id: "openai", asOf: $t) { id } }',
            t=value,
        ),
        *words,
    )
    assert api.head() == before


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_stored_as_text_or_refused_as_ids(api: Client, text: str) -> None:
    """In ids (slugs) they are refused by name; in free text they are data, kept verbatim,
    and the database is none the worse."""
    n = INJECTIONS.index(text)
    before = api.head()
    refused(
        api.answer(REGISTER, id=text, name="x", source={"url": "https://x.org"}), "entityId", "slug"
    )
    assert api.head() == before
    recorded = api.answer(
        REGISTER, id=f"inj{n}", name=text, source={"title": text, "url": "https://x.org/?q=1"}
    )["data"]["registerEntity"]
    assert recorded["__typename"] == "Recorded", recorded
    legs = [
        {
            "leg": "l0",
            "payer": f"inj{n}",
            "payee": "openai",
            "instrument": "equity",
            "headlineUsd": "1",
        }
    ]
    deal = api.answer(
        """mutation($legs: [LegInput!]!, $t: String!, $d: String!) {
             announceDeal(dealId: $d, title: $t, legs: $legs, conditions: $t,
                          effectiveAt: "2025-01-02", source: {title: $t, note: $t}) { __typename } }""",
        legs=legs,
        t=text,
        d=f"inj-deal-{n}",
    )["data"]["announceDeal"]
    assert deal["__typename"] == "Recorded", deal
    seen = api.answer(
        f'{{ entity(id: "inj{n}", knownAt: "2100-01-01") {{ name }} '
        f'events(stream: "deal/inj-deal-{n}") {{ edges {{ node {{ data source }} }} }} }}'
    )["data"]
    assert seen["entity"] is None or seen["entity"]["name"] == text
    node = seen["events"]["edges"][0]["node"]
    assert node["data"]["title"] == text and node["source"]["note"] == text
    assert api.head() == before + 2  # exactly the two events, and the log is intact


def test_unknown_ids_are_null_or_named(api: Client) -> None:
    before = api.head()
    answer = api.answer('{ entity(id: "nosuch") { id } deal(id: "nosuch") { id } }')
    assert answer["data"] == {"entity": None, "deal": None}
    funded = api.answer(
        """mutation { fundTranche(dealId: "nosuch", leg: "l0", amountUsd: "1",
             effectiveAt: "2025-01-01", source: {title: "t"}) {
             __typename ... on ValidationError { field message } ... on NotFound { message } } }"""
    )["data"]["fundTranche"]
    assert "nosuch" in funded["message"]
    retracted = api.answer(
        """mutation { retractEvent(targetEventId: "00000000-0000-0000-0000-000000000000",
             reason: "r", effectiveAt: "2025-01-01", source: {title: "t"}) {
             __typename ... on ValidationError { field message } ... on NotFound { message } } }"""
    )["data"]["retractEvent"]
    assert "00000000-0000-0000-0000-000000000000" in retracted["message"]
    stressed = api.answer(
        '{ stressTest(defaulted: ["nosuch"], recoveryRate: "0.4", threshold: "0.1") { __typename } }'
    )
    refused(stressed, "nosuch")
    assert api.head() == before


def test_a_deal_with_one_bad_leg_writes_nothing(api: Client) -> None:
    before = api.head()
    legs = [
        {
            "leg": "a",
            "payer": "nvidia",
            "payee": "openai",
            "instrument": "equity",
            "headlineUsd": "1",
        },
        {
            "leg": "b",
            "payer": "openai",
            "payee": "nvidia",
            "instrument": "purchase",
            "headlineUsd": "1",
        },
        {
            "leg": "c",
            "payer": "openai",
            "payee": "ghost",
            "instrument": "purchase",
            "headlineUsd": "1",
        },
    ]
    answer = api.answer(
        """mutation($legs: [LegInput!]!) { announceDeal(dealId: "partial", title: "t", legs: $legs,
             effectiveAt: "2025-01-01", source: {title: "t"}) {
             __typename ... on ValidationError { field message } } }""",
        legs=legs,
    )["data"]["announceDeal"]
    assert answer["field"] == "legs[2].payee" and "ghost" in answer["message"]
    assert api.head() == before
    assert (
        api.answer('{ deal(id: "partial", knownAt: "2100-01-01") { id } }')["data"]["deal"] is None
    )


def test_malformed_requests_are_4xx_not_5xx(api: Client) -> None:
    for body in (b"{", b"[]", b'{"query": 5}', b'{"query": "{", "variables": 3}', b"\xff\xfe"):
        response = api.http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
    response = api.http.get(
        "/graphql", params={"query": "{ ledgerHead { position } }", "variables": "{"}
    )
    assert 400 <= response.status_code < 500
    assert json.loads(
        api.http.get("/graphql", params={"query": "{ ledgerHead { position } }"}).text
    )
