"""Caching of the past over real HTTP: a GET whose every knownAt is settled is immutable, has a
strong ETag, and is answered 304 when the client already holds it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.e2e.test_graphql import Api, create_key

ENTITY = """query($asOf: DateTime, $knownAt: DateTime) {
  entity(id: "openai", asOf: $asOf, knownAt: $knownAt) { name valuation { valuationUsd } }
}"""
VALUE = """mutation($amount: Decimal!) {
  reportValuation(entityId: "openai", valuationUsd: $amount, basis: "funding_round",
                  effectiveAt: "2024-10-02", source: {url: "https://example.com"}) {
    ... on Recorded { event { position recordedAt } }
  }
}"""


@pytest.fixture
def api(database: TestDatabase) -> Iterator[Api]:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    with Server(env) as server:
        yield Api(server.url, create_key(env, "writer"))


def get(api: Api, headers: dict[str, str] | None = None, **variables: str) -> httpx.Response:
    params = {"query": ENTITY, "variables": json.dumps(variables)}
    return httpx.get(f"{api.url}/graphql", params=params, headers=headers or {})


@pytest.fixture
def settled(api: Api) -> str:
    """A knowledge time before the ledger's last projected event: answers there are final."""
    api.register("openai", "OpenAI")
    first = api(VALUE, amount="157000000000")["reportValuation"]["event"]["recordedAt"]
    api.register("nvidia", "Nvidia")
    api.wait_projected()
    return first


def test_a_past_answer_is_immutable_with_a_strong_etag(api: Api, settled: str) -> None:
    response = get(api, asOf="2025-01-01", knownAt=settled)
    assert response.status_code == 200
    assert response.json()["data"]["entity"]["valuation"]["valuationUsd"] == "157000000000"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"].startswith('"') and not response.headers["etag"].startswith(
        "W/"
    )


def test_if_none_match_with_the_etag_is_answered_304_without_a_body(api: Api, settled: str) -> None:
    tag = get(api, asOf="2025-01-01", knownAt=settled).headers["etag"]
    again = get(api, {"If-None-Match": tag}, asOf="2025-01-01", knownAt=settled)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    other = get(api, {"If-None-Match": '"something-else"'}, asOf="2025-01-01", knownAt=settled)
    assert other.status_code == 200


def test_if_none_match_compares_weakly_and_honours_a_star(api: Api, settled: str) -> None:
    """A proxy that compresses a response weakens its ETag (W/"..."); RFC 9110 section 13.1.2
    compares If-None-Match weakly, and "*" matches any current answer."""
    tag = get(api, asOf="2025-01-01", knownAt=settled).headers["etag"]
    for header in (f"W/{tag}", f'"other", W/{tag}', "*"):
        again = get(api, {"If-None-Match": header}, asOf="2025-01-01", knownAt=settled)
        assert again.status_code == 304, header
        assert again.headers["etag"] == tag and again.content == b""
    # an answer that may still change is never a 304, not even for "*"
    moving = get(api, {"If-None-Match": "*"}, asOf="2025-01-01")
    assert moving.status_code == 200


def test_the_etag_follows_the_media_type_the_client_accepts(api: Api, settled: str) -> None:
    plain = get(api, asOf="2025-01-01", knownAt=settled)
    spec = get(
        api,
        {"Accept": "application/graphql-response+json"},
        asOf="2025-01-01",
        knownAt=settled,
    )
    assert spec.headers["content-type"].startswith("application/graphql-response+json")
    assert plain.headers["content-type"].startswith("application/json")
    assert spec.headers["etag"] != plain.headers["etag"]
    assert "Accept" in spec.headers["vary"]


def test_the_cached_answer_stays_true_after_a_back_dated_correction(api: Api, settled: str) -> None:
    before = get(api, asOf="2025-01-01", knownAt=settled)
    api(VALUE, amount="1")  # recorded now, effective 2024-10-02: changes today's view only
    api.wait_projected()
    after = get(api, asOf="2025-01-01", knownAt=settled)
    assert after.content == before.content and after.headers["etag"] == before.headers["etag"]
    today = get(api, asOf="2025-01-01")
    assert today.json()["data"]["entity"]["valuation"]["valuationUsd"] == "1"


@pytest.mark.parametrize(
    "variables",
    [
        {"asOf": "2025-01-01"},  # knownAt = now: may change
        {"knownAt": "2000-01-01"},  # asOf = now: moves with the clock
        {"asOf": "2025-01-01", "knownAt": "2999-01-01"},  # the future is not settled
    ],
    ids=["no-known-at", "no-as-of", "future-known-at"],
)
def test_answers_that_may_change_are_not_marked_cacheable(
    api: Api, settled: str, variables: dict[str, str]
) -> None:
    response = get(api, **variables)
    assert response.status_code == 200
    # no cache may keep an answer that can change (RFC 9111: no-store)
    assert "etag" not in response.headers and response.headers["cache-control"] == "no-store"


def test_errors_and_posts_are_never_marked_cacheable(api: Api, settled: str) -> None:
    broken = httpx.get(
        f"{api.url}/graphql",
        params={
            "query": '{ entity(id: "openai", asOf: "2025-01-01", knownAt: "2000-01-01") '
            "{ nosuchfield } }"
        },
    )
    assert "etag" not in broken.headers and broken.headers["cache-control"] == "no-store"
    posted = httpx.post(
        f"{api.url}/graphql",
        json={"query": ENTITY, "variables": {"asOf": "2025-01-01", "knownAt": settled}},
    )
    assert posted.status_code == 200 and "etag" not in posted.headers


def test_in_production_a_past_answer_is_private(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")
    key = create_key(env, "writer")
    with Server(env) as server:
        api = Api(server.url, key)
        api.register("openai", "OpenAI")
        first = api(VALUE, amount="157000000000")["reportValuation"]["event"]["recordedAt"]
        api.register("nvidia", "Nvidia")
        api.wait_projected()
        response = get(api, {"Authorization": f"Bearer {key}"}, asOf="2025-01-01", knownAt=first)
        assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
