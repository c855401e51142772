"""The GraphQL API over HTTP with a real client (gql): every query of the spec, mutations and
their typed errors, against a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger

SOURCE = {"url": "https://example.com/report", "title": "A public report"}

RECORDED = """
  ... on Recorded { event { position stream streamVersion type recordedAt hash } }
  ... on ValidationError { field message }
  ... on VersionConflict { stream expectedVersion currentVersion message }
  ... on NotFound { message }
"""


class Api:
    def __init__(self, url: str, key: str | None = None) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = Client(
            transport=HTTPXTransport(url=f"{url}/graphql", timeout=30, headers=headers)
        )

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        return self.client.execute(GraphQLRequest(query, variable_values=variables))

    def register(self, entity_id: str, name: str) -> dict[str, Any]:
        return self(
            f"""mutation($id: String!, $name: String!, $source: SourceInput!) {{
                  registerEntity(entityId: $id, name: $name, kind: "company",
                                 effectiveAt: "2015-12-11", source: $source) {{ {RECORDED} }}
                }}""",
            id=entity_id,
            name=name,
            source=SOURCE,
        )["registerEntity"]

    def wait_projected(self) -> None:
        deadline = time.monotonic() + 30
        while httpx.get(f"{self.url}/ready").json()["projections"]["read_models"]["lag"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def create_key(env: dict[str, str], role: str) -> str:
    created = run_ledger("keys", "create", "--role", role, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url)


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[Api]:
    key = create_key(env, "writer")
    with Server(env) as server:
        yield Api(server.url, key)


ANNOUNCE = f"""
mutation($legs: [LegInput!]!, $source: SourceInput!, $id: String!, $version: Int) {{
  announceDeal(dealId: $id, title: "Nvidia to invest up to $100B in OpenAI", legs: $legs,
               effectiveAt: "2025-09-22", source: $source, expectedVersion: $version) {{
    {RECORDED}
  }}
}}
"""
LEGS = [
    {
        "leg": "equity",
        "payer": "nvidia",
        "payee": "openai",
        "instrument": "equity",
        "headlineUsd": "100000000000",
    },
    {
        "leg": "systems",
        "payer": "openai",
        "payee": "nvidia",
        "instrument": "purchase",
        "capacityGw": "10",
        "headlineUsd": "35000000000",
    },
]


@pytest.fixture
def web(api: Api) -> Api:
    assert api.register("nvidia", "NVIDIA")["event"]["position"] == 1
    api.register("openai", "OpenAI")
    recorded = api(ANNOUNCE, legs=LEGS, source=SOURCE, id="nvidia-openai-2025-09")
    assert recorded["announceDeal"]["event"]["stream"] == "deal/nvidia-openai-2025-09"
    valuation = api(
        """mutation($s: SourceInput!) { reportValuation(entityId: "openai",
             valuationUsd: "500000000000", basis: "secondary_sale", effectiveAt: "2025-10-02",
             source: $s) { ... on Recorded { event { position } } } }""",
        s=SOURCE,
    )
    assert valuation["reportValuation"]["event"]["position"] == 4
    api.wait_projected()
    return api


GRAPH = """
query($asOf: DateTime) {
  exposureGraph(asOf: $asOf, knownAt: "2100-01-01") {
    nodes { id name valuationUsd }
    edges { leg instrument amountUsd payer { id } payee { name } deal { title status } }
    exposures { from { id } to { id } amountUsd }
  }
}
"""


def test_the_graph_grows_when_the_deal_is_announced(web: Api) -> None:
    before = web(GRAPH, asOf="2025-08-31")["exposureGraph"]
    after = web(GRAPH, asOf="2025-10-31")["exposureGraph"]
    assert before["edges"] == [] and before["exposures"] == []
    assert {n["id"] for n in after["nodes"]} == {"nvidia", "openai"}
    assert next(n for n in after["nodes"] if n["id"] == "openai")["valuationUsd"] == "500000000000"
    equity = next(e for e in after["edges"] if e["leg"] == "equity")
    assert equity == {
        "leg": "equity",
        "instrument": "equity",
        "amountUsd": "100000000000",
        "payer": {"id": "nvidia"},
        "payee": {"name": "OpenAI"},
        "deal": {"title": "Nvidia to invest up to $100B in OpenAI", "status": "LIVE"},
    }
    assert after["exposures"] == [
        {"from": {"id": "nvidia"}, "to": {"id": "openai"}, "amountUsd": "135000000000"}
    ]


def test_an_entity_shows_its_history_exposures_and_deals(web: Api) -> None:
    entity = web(
        """{ entity(id: "openai", asOf: "2025-10-31") {
              name valuation { valuationUsd basis effectiveAt }
              valuations { valuationUsd }
              exposures { totalInUsd incoming { from { id } amountUsd } outgoing { amountUsd } }
              commitmentRatio deals { id legs { leg fundedUsd } }
           } }"""
    )["entity"]
    assert entity["name"] == "OpenAI"
    assert entity["valuation"] == {
        "valuationUsd": "500000000000",
        "basis": "secondary_sale",
        "effectiveAt": "2025-10-02T00:00:00Z",
    }
    assert entity["exposures"]["incoming"] == [
        {"from": {"id": "nvidia"}, "amountUsd": "135000000000"}
    ]
    assert entity["exposures"]["outgoing"] == []
    assert entity["commitmentRatio"] is None  # no revenue reported
    assert entity["deals"][0]["id"] == "nvidia-openai-2025-09"
    assert web('{ entity(id: "openai", asOf: "2015-01-01") { name } }')["entity"] is None


def test_deals_page_with_stable_cursors_and_a_deal_has_its_history(web: Api) -> None:
    web(ANNOUNCE, legs=LEGS[:1], source=SOURCE, id="zz-second")
    web.wait_projected()
    query = """query($after: String) { deals(first: 1, after: $after) {
                 edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = web(query)["deals"]
    second = web(query, after=first["pageInfo"]["endCursor"])["deals"]
    assert [e["node"]["id"] for e in first["edges"] + second["edges"]] == [
        "nvidia-openai-2025-09",
        "zz-second",
    ]
    assert first["pageInfo"]["hasNextPage"] and not second["pageInfo"]["hasNextPage"]
    deal = web('{ deal(id: "nvidia-openai-2025-09") { status history { position type hash } } }')[
        "deal"
    ]
    assert deal["status"] == "LIVE"
    assert [e["type"] for e in deal["history"]] == ["DealAnnounced"]


def test_circular_flows_stress_test_and_series(web: Api) -> None:
    cycles = web('{ circularFlows(asOf: "2025-10-31") { entityIds amountUsd } }')
    assert cycles["circularFlows"] == [
        {"entityIds": ["nvidia", "openai"], "amountUsd": "35000000000"}
    ]
    stress = web(
        """{ stressTest(defaulted: ["openai"], recoveryRate: "0.5", threshold: "0.5",
                        asOf: "2025-10-31") {
              rounds { number losses { entityId lossUsd shareOfValuation } newDefaults } } }"""
    )["stressTest"]
    assert stress["rounds"][0]["losses"] == [
        {"entityId": "nvidia", "lossUsd": "67500000000", "shareOfValuation": None}
    ]
    series = web(
        """{ series(entityId: "openai", metric: VALUATION, from: "2025-09-02",
                    to: "2025-11-02", interval: MONTH) { asOf value } }"""
    )["series"]
    assert series == [
        {"asOf": "2025-09-02T00:00:00Z", "value": None},
        {"asOf": "2025-10-02T00:00:00Z", "value": "500000000000"},
        {"asOf": "2025-11-02T00:00:00Z", "value": "500000000000"},
    ]


def test_events_and_the_ledger_head_for_auditors(web: Api) -> None:
    events = web(
        """{ events(types: ["EntityRegistered"], first: 1) {
              edges { node { position stream type source } } pageInfo { hasNextPage } } }"""
    )["events"]
    assert events["edges"][0]["node"] == {
        "position": 1,
        "stream": "entity/nvidia",
        "type": "EntityRegistered",
        "source": SOURCE,
    }
    assert events["pageInfo"]["hasNextPage"]
    head = web("{ ledgerHead { position hash digest } }")["ledgerHead"]
    assert head["position"] == 4 and head["digest"] == f"4:{head['hash']}"


SPAN = "{ ledgerSpan { firstEffectiveAt firstActivityAt lastEffectiveAt } }"


def test_the_ledger_span_is_null_while_the_ledger_is_empty(api: Api) -> None:
    assert api(SPAN)["ledgerSpan"] is None


def test_the_ledger_span_gives_a_slider_its_range_without_reading_events(web: Api) -> None:
    assert web(SPAN)["ledgerSpan"] == {
        "firstEffectiveAt": "2015-12-11T00:00:00Z",  # the registrations
        "firstActivityAt": "2025-09-22T00:00:00Z",  # the deal
        "lastEffectiveAt": "2025-10-02T00:00:00Z",  # the valuation
    }


def test_a_refused_mutation_names_the_field_and_writes_nothing(web: Api) -> None:
    legs = [dict(LEGS[0], payee="nobody")]
    refused = web(ANNOUNCE, legs=legs, source=SOURCE, id="bad-deal")["announceDeal"]
    assert refused["field"].startswith("legs") and "nobody" in refused["message"]
    conflict = web(ANNOUNCE, legs=LEGS, source=SOURCE, id="late-deal", version=3)["announceDeal"]
    assert conflict["currentVersion"] == 0 and conflict["expectedVersion"] == 3
    assert web("{ ledgerHead { position } }")["ledgerHead"]["position"] == 4


def test_a_time_without_a_timezone_is_refused_with_a_clear_error(web: Api) -> None:
    with pytest.raises(TransportQueryError, match="no timezone"):
        web('{ exposureGraph(asOf: "2025-10-31T12:00:00") { edges { leg } } }')


def test_too_deep_too_many_aliases_and_too_large_requests_are_refused(api: Api) -> None:
    deep = "{ exposureGraph { edges { deal { legs { payer { deals { legs { payer { deals { legs { payee { deals { id } } } } } } } } } } } } }"
    with pytest.raises(TransportQueryError, match="exceeds maximum operation depth"):
        api(deep)
    aliases = "{ " + " ".join(f"a{i}: ledgerHead {{ position }}" for i in range(30)) + " }"
    with pytest.raises(TransportQueryError, match="aliases"):
        api(aliases)
    big = httpx.post(
        f"{api.url}/graphql", json={"query": "{ ledgerHead { position } }", "pad": "x" * 300_000}
    )
    assert big.status_code == 413
    with pytest.raises(TransportQueryError, match="first must be between"):
        api("{ events(first: 100000) { edges { cursor } } }")


# -- roles -------------------------------------------------------------------------------------

REGISTER = """mutation { registerEntity(entityId: "amd", name: "AMD", kind: "company",
    effectiveAt: "1969-05-01", source: {title: "t"}) {
    __typename ... on Forbidden { message } } }"""


def test_locally_reads_are_open_and_writes_need_a_writers_key(env: dict[str, str]) -> None:
    reader = create_key(env, "reader")
    with Server(env) as server:
        anonymous = Api(server.url)
        assert anonymous("{ ledgerHead { position } }")["ledgerHead"]["position"] == 0
        refused = anonymous(REGISTER)["registerEntity"]
        assert refused["__typename"] == "Forbidden" and "writer" in refused["message"]
        assert Api(server.url, reader)(REGISTER)["registerEntity"]["__typename"] == "Forbidden"
        bad = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ ledgerHead { position } }"},
            headers={"Authorization": "Bearer ldg_not-a-key"},
        )
        assert bad.status_code == 401 and "unknown or revoked" in bad.text
        assert Api(server.url)("{ ledgerHead { position } }")["ledgerHead"]["position"] == 0


def test_in_production_every_request_needs_a_key_and_the_schema_stays_private(
    env: dict[str, str],
) -> None:
    production = env | {"LEDGER_ENV": "production"}
    reader = create_key(production, "reader")
    auditor = create_key(production, "auditor")
    with Server(production) as server:
        anonymous = httpx.post(
            f"{server.url}/graphql", json={"query": "{ ledgerHead { position } }"}
        )
        assert anonymous.status_code == 401 and "API key is required" in anonymous.text
        api = Api(server.url, reader)
        assert api("{ ledgerHead { position } }")["ledgerHead"]["position"] == 0
        with pytest.raises(TransportQueryError, match="introspection"):
            api("{ __schema { types { name } } }")
        with pytest.raises(TransportQueryError, match="auditor"):
            api("{ events { edges { cursor } } }")
        assert Api(server.url, auditor)("{ events { edges { cursor } } }")["events"]["edges"] == []
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()


def test_a_revoked_key_is_refused(env: dict[str, str]) -> None:
    key = create_key(env, "writer")
    listed = run_ledger("keys", "list", env=env).stdout
    key_id = listed.split()[0]
    assert "writer" in listed and key not in listed
    assert run_ledger("keys", "revoke", key_id, env=env).returncode == 0
    with Server(env) as server:
        refused = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ ledgerHead { position } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert refused.status_code == 401
