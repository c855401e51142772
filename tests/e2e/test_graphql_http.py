"""GraphQL over HTTP and RFC 9110 at ``/graphql``, over real HTTP against ``ledger serve``
(issue 20, point 4): methods, status codes, media types, refusals as GraphQL JSON errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env

SPEC = "application/graphql-response+json"
HEAD = "{ ledgerHead { position } }"


@pytest.fixture(scope="module")
def url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """One server for the module's read-only checks, on a database of its own."""
    from tests.conftest import _fresh_database

    databases = _fresh_database(pg_admin_url, template_database)
    database = next(databases)
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as server:
        yield server.url
    databases.close()


def only_errors(response: httpx.Response, code: str) -> list[dict]:
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"][0]["extensions"]["code"] == code, body
    return body["errors"]


def test_a_mutation_over_get_is_405_with_allow_post(url: str) -> None:
    response = httpx.get(
        f"{url}/graphql", params={"query": 'mutation { retractEvent(eventId: "x") { __typename } }'}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    assert "POST" in only_errors(response, "METHOD_NOT_ALLOWED")[0]["message"]


def test_allow_headers_name_real_methods(url: str) -> None:
    refused = httpx.put(f"{url}/graphql", json={"query": HEAD})
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST, OPTIONS"
    only_errors(refused, "METHOD_NOT_ALLOWED")
    options = httpx.options(f"{url}/graphql")
    assert options.headers["allow"] == "GET, POST, OPTIONS"
    assert httpx.put(f"{url}/health").headers["allow"] == "GET, OPTIONS"


def test_a_refused_key_is_401_with_www_authenticate_and_a_graphql_error(url: str) -> None:
    response = httpx.post(
        f"{url}/graphql", json={"query": HEAD}, headers={"Authorization": "Bearer ldg_nope"}
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert "unknown or revoked" in only_errors(response, "UNAUTHENTICATED")[0]["message"]


def test_in_production_no_key_is_401_with_a_challenge(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")
    with Server(env) as server:
        response = httpx.post(f"{server.url}/graphql", json={"query": HEAD})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="deal-ledger"')
        only_errors(response, "UNAUTHENTICATED")
        export = httpx.get(f"{server.url}/export")
        assert export.status_code == 401 and "www-authenticate" in export.headers


def test_graphql_response_json_is_answered_in_kind_with_the_specs_status_codes(url: str) -> None:
    accept = {"Accept": SPEC}
    ok = httpx.post(f"{url}/graphql", json={"query": HEAD}, headers=accept)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(SPEC)
    assert ok.json()["data"]["ledgerHead"]["position"] == 0
    invalid = httpx.post(f"{url}/graphql", json={"query": "{ nosuchfield }"}, headers=accept)
    assert invalid.status_code == 400 and invalid.headers["content-type"].startswith(SPEC)
    assert "data" not in invalid.json()
    unparsable = httpx.post(f"{url}/graphql", json={"query": "{"}, headers=accept)
    assert unparsable.status_code == 400 and "data" not in unparsable.json()
    coerced = httpx.post(
        f"{url}/graphql",
        json={
            "query": "query($p: Int) { events(first: $p) { edges { cursor } } }",
            "variables": {"p": "many"},
        },
        headers=accept,
    )
    assert coerced.status_code == 400 and "data" not in coerced.json()
    # a field's error is a response with data: 200 (the spec's "partial success")
    partial = httpx.post(
        f"{url}/graphql",
        json={"query": "{ events(first: 100000) { edges { cursor } } }"},
        headers=accept,
    )
    assert partial.status_code == 200 and "data" in partial.json() and partial.json()["errors"]
    # application/json (and no Accept) keeps 200 for every GraphQL response
    legacy = httpx.post(f"{url}/graphql", json={"query": "{ nosuchfield }"})
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith(
        "application/json"
    )
    preferred = httpx.post(
        f"{url}/graphql",
        json={"query": HEAD},
        headers={"Accept": f"application/json;q=0.9, {SPEC}"},
    )
    assert preferred.headers["content-type"].startswith(SPEC)


def test_batches_and_persisted_queries_are_refused_as_graphql_errors(url: str) -> None:
    batch = httpx.post(f"{url}/graphql", json=[{"query": HEAD}, {"query": HEAD}])
    assert batch.status_code == 400
    assert batch.headers["content-type"].startswith("application/json")
    only_errors(batch, "BATCHING_NOT_SUPPORTED")
    persisted = httpx.post(
        f"{url}/graphql",
        json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}},
    )
    assert persisted.status_code == 400
    errors = only_errors(persisted, "PERSISTED_QUERY_NOT_SUPPORTED")
    assert errors[0]["message"] == "PersistedQueryNotSupported"  # what Apollo's link looks for
    over_get = httpx.get(
        f"{url}/graphql",
        params={"extensions": '{"persistedQuery": {"version": 1, "sha256Hash": "ab"}}'},
        headers={"Accept": "application/json"},
    )
    only_errors(over_get, "PERSISTED_QUERY_NOT_SUPPORTED")
    empty = httpx.post(
        f"{url}/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert empty.status_code == 400
    only_errors(empty, "BAD_REQUEST")


def test_a_body_over_the_limit_is_413_naming_the_limit(url: str) -> None:
    response = httpx.post(f"{url}/graphql", json={"query": HEAD, "pad": "x" * 300_000})
    assert response.status_code == 413
    error = only_errors(response, "REQUEST_TOO_LARGE")[0]
    assert "256 KiB" in error["message"] and error["extensions"]["limit"] == 256 * 1024


def test_an_answer_that_may_change_is_no_store(url: str) -> None:
    response = httpx.get(f"{url}/graphql", params={"query": HEAD})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_metrics_content_type_names_its_charset_once(url: str) -> None:
    content_type = httpx.get(f"{url}/metrics").headers["content-type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.count("charset") == 1, content_type
