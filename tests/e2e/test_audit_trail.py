"""The audit trail through the API: who recorded each event and in which request, the raw
log filtered by actor, and the auditor's export -- with real keys against a live server."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger
from tests.e2e.test_graphql import SOURCE, Api

REGISTER = """mutation($id: String!, $metadata: JSON) {
  registerEntity(entityId: $id, name: "X", kind: "company", effectiveAt: "2015-12-11",
                 source: {url: "https://example.com"}, metadata: $metadata) {
    ... on Recorded { event { position metadata } }
  }
}"""
EVENTS = """query($actor: String) {
  events(actor: $actor) { edges { node { position metadata } } }
}"""


def key(env: dict[str, str], role: str, name: str) -> str:
    created = run_ledger("keys", "create", "--role", role, "--name", name, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def post(server: Server, query: str, key: str | None = None, **variables) -> httpx.Response:
    headers = {"X-Request-ID": "req-7"} | ({"Authorization": f"Bearer {key}"} if key else {})
    return httpx.post(
        f"{server.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )


@pytest.fixture
def production(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")


def test_each_event_records_the_key_that_wrote_it_and_the_request(
    production: dict[str, str],
) -> None:
    writer = key(production, "writer", "analyst-1")
    with Server(production) as server:
        # a client cannot claim to be someone else: the key decides the actor
        forged = {"actor": "ceo", "correlation_id": "5b0c2d0e-8f6b-4f7a-9d55-0b8c2e1f9a10"}
        recorded = post(server, REGISTER, writer, id="openai", metadata=forged).json()
    metadata = recorded["data"]["registerEntity"]["event"]["metadata"]
    assert metadata["actor"] == "analyst-1" and metadata["actor_role"] == "writer"
    assert metadata["request_id"] == "req-7"
    assert metadata["correlation_id"] == forged["correlation_id"]  # the client's own ids stay


def test_the_raw_log_filters_by_actor(production: dict[str, str]) -> None:
    first, second = key(production, "writer", "alice"), key(production, "writer", "bob")
    auditor = key(production, "auditor", "audit")
    with Server(production) as server:
        post(server, REGISTER, first, id="openai")
        post(server, REGISTER, second, id="nvidia")
        post(server, REGISTER, first, id="amd")
        found = post(server, EVENTS, auditor, actor="alice").json()["data"]["events"]["edges"]
    assert [e["node"]["position"] for e in found] == [1, 3]


def test_the_export_is_for_auditors_and_a_revoked_key_is_refused_at_once(
    production: dict[str, str],
) -> None:
    writer = key(production, "writer", "w")
    auditor = key(production, "auditor", "a")
    reader = key(production, "reader", "r")
    with Server(production) as server:
        post(server, REGISTER, writer, id="openai")
        post(server, REGISTER, writer, id="nvidia")

        def export(k: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {k}"} if k else {}
            return httpx.get(f"{server.url}/export", headers=headers)

        exported = export(auditor)
        assert exported.status_code == 200
        lines = [json.loads(x) for x in exported.text.splitlines()]
        assert [x["position"] for x in lines] == [1, 2]
        assert lines[0]["metadata"]["actor"] == "w" and len(lines[1]["hash"]) == 64
        assert export(writer).status_code == 403
        assert export(reader).status_code == 403
        assert export(None).status_code == 401
        assert post(server, REGISTER, reader, id="amd").json()["data"]["registerEntity"] == {}
        # revoke the writer: its very next request is refused
        listed = run_ledger("keys", "list", env=production).stdout
        writer_id = next(line.split()[0] for line in listed.splitlines() if " w " in f" {line} ")
        assert run_ledger("keys", "revoke", writer_id, env=production).returncode == 0
        refused = post(server, REGISTER, writer, id="amd")
        assert refused.status_code == 401 and "revoked" in refused.text


def test_an_export_range_and_a_bad_range(production: dict[str, str]) -> None:
    writer, auditor = key(production, "writer", "w"), key(production, "auditor", "a")
    with Server(production) as server:
        for entity in ("a", "b", "c"):
            post(server, REGISTER, writer, id=entity)
        headers = {"Authorization": f"Bearer {auditor}"}
        ranged = httpx.get(
            f"{server.url}/export", params={"fromPosition": 2, "toPosition": 2}, headers=headers
        )
        bad = httpx.get(f"{server.url}/export", params={"fromPosition": 0}, headers=headers)
    assert [json.loads(x)["position"] for x in ranged.text.splitlines()] == [2]
    assert bad.status_code == 400 and "fromPosition" in bad.text


del SOURCE, Api
