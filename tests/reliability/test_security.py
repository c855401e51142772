"""Who may do what, in production, with real keys against a live server and the database's
own privileges: a reader cannot write, a writer cannot read the audit log or export unless it
is also an auditor, a revoked key is refused on its very next request, and the service's
database role cannot change the events even if the code asked it to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from ledger.store import EventStore
from tests.conftest import APP_ROLE, TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger
from tests.factories import registered

pytestmark = pytest.mark.reliability

WRITE = """mutation { registerEntity(entityId: "probe", name: "P", kind: "company",
  effectiveAt: "2025-01-01", source: {title: "t"}) {
  __typename ... on Forbidden { message } } }"""
AUDIT = "{ events(first: 1) { edges { node { position } } } }"


def key(env: dict[str, str], role: str, name: str) -> tuple[str, str]:
    created = run_ledger("keys", "create", "--role", role, "--name", name, env=env)
    assert created.returncode == 0, created.stderr
    listed = run_ledger("keys", "list", env=env).stdout.splitlines()
    key_id = next(line.split()[0] for line in listed if f" {name} " in f" {line} ")
    return created.stdout.strip(), key_id


@pytest.fixture
def production(database: TestDatabase) -> Iterator[tuple[dict[str, str], Server]]:
    env = clean_env(
        LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production", LEDGER_SEED="true"
    )
    with Server(env) as server:
        yield env, server


def ask(server: Server, query: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers)


def head(server: Server, key: str) -> int:
    answer = ask(server, "{ ledgerHead { position } }", key).json()
    return answer["data"]["ledgerHead"]["position"]


def test_each_role_does_only_what_it_may(production) -> None:
    env, server = production
    reader, _ = key(env, "reader", "r")
    writer, _ = key(env, "writer", "w")
    auditor, _ = key(env, "auditor", "a")
    before = head(server, reader)

    forbidden = ask(server, WRITE, reader).json()["data"]["registerEntity"]
    assert forbidden["__typename"] == "Forbidden" and "writer" in forbidden["message"]
    assert ask(server, WRITE, auditor).json()["data"]["registerEntity"]["__typename"] == (
        "Forbidden"
    )
    assert head(server, reader) == before  # nothing written by either

    for k in (reader, writer):
        refused = ask(server, AUDIT, k).json()
        assert "auditor" in refused["errors"][0]["message"]
        export = httpx.get(f"{server.url}/export", headers={"Authorization": f"Bearer {k}"})
        assert export.status_code == 403
    assert ask(server, AUDIT, auditor).json()["data"]["events"]["edges"]
    assert (
        httpx.get(
            f"{server.url}/export", headers={"Authorization": f"Bearer {auditor}"}
        ).status_code
        == 200
    )

    assert ask(server, WRITE, writer).json()["data"]["registerEntity"]["__typename"] == ("Recorded")


def test_without_a_key_nothing_is_answered_and_the_schema_stays_private(production) -> None:
    env, server = production
    reader, _ = key(env, "reader", "r")
    assert ask(server, "{ ledgerHead { position } }", None).status_code == 401
    assert ask(server, "{ ledgerHead { position } }", "ldg_forged").status_code == 401
    assert httpx.get(f"{server.url}/export").status_code == 401
    introspection = ask(server, "{ __schema { types { name } } }", reader).json()
    assert "introspection" in introspection["errors"][0]["message"].lower()
    # liveness and readiness stay open for process managers
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_revoked_key_is_refused_on_its_next_request(production) -> None:
    env, server = production
    writer, writer_id = key(env, "writer", "soon-revoked")
    assert head(server, writer) > 0
    assert run_ledger("keys", "revoke", writer_id, env=env).returncode == 0
    refused = ask(server, WRITE, writer)
    assert refused.status_code == 401 and "revoked" in refused.text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'EntityRenamed' WHERE position = 1",
        "DELETE FROM events WHERE position = 1",
        "TRUNCATE events",
        "ALTER TABLE events DISABLE TRIGGER USER",
        # a forged row past the head, with a copied hash: the chain check refuses it
        "INSERT INTO events SELECT position + 1000, stream, stream_version + 1000, "
        "gen_random_uuid(), type, schema_version, data, source, metadata, effective_at, "
        "clock_timestamp(), prev_hash, hash FROM events WHERE position = 1",
        "DELETE FROM api_keys",
        "UPDATE api_keys SET role = 'auditor'",
    ],
)
def test_the_service_role_cannot_change_the_log_or_the_keys(
    database: TestDatabase, store: EventStore, statement: str
) -> None:
    with psycopg.connect(database.libpq_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, name, role, key_hash) VALUES "
            "(gen_random_uuid(), 'k', 'reader', repeat('a', 64)) ON CONFLICT DO NOTHING"
        )
    store.append("entity/openai", [registered()])
    with psycopg.connect(database.libpq_url) as conn:
        conn.execute(f'SET ROLE "{APP_ROLE}"')
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(statement)
    message = str(refused.value)
    assert any(
        words in message
        for words in ("permission denied", "must be owner", "immutable", "append refused")
    ), message
