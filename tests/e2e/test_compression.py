"""Compression and CORS over real HTTP (issue 20, point 7): large answers and /export go out
gzip or br when the client asks, small ones as they are; a cached past answer's ETag names its
representation and its Vary names Accept-Encoding; CORS headers only for LEDGER_CORS_ORIGINS."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import brotli
import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env

# on the seeded deal web, a settled past: its answer is final (api.caching) and large
DEALS = """{ deals(asOf: "2026-01-01", knownAt: "2026-01-01", first: 50) {
  edges { node { id legs { payerId payeeId instrument fundedUsd } } } } }"""
DASHBOARD = "https://dash.example.com"


@pytest.fixture
def server(database: TestDatabase) -> Iterator[Server]:
    env = clean_env(
        LEDGER_DATABASE_URL=database.libpq_url,
        LEDGER_SEED="true",
        LEDGER_CORS_ORIGINS=f"{DASHBOARD}, http://localhost:5173",
    )
    with Server(env) as server:
        yield server


class Raw:
    """An answer's headers and its bytes as sent (httpx would decode gzip and br itself)."""

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self.status_code, self.headers, self.content = (
            response.status_code,
            response.headers,
            content,
        )

    def json(self) -> object:
        return json.loads(self.content)


def raw(server: Server, path: str, encoding: str, **params: str) -> Raw:
    with httpx.stream(
        "GET", f"{server.url}{path}", params=params, headers={"Accept-Encoding": encoding}
    ) as response:
        return Raw(response, b"".join(response.iter_raw()))


def test_a_large_answer_is_compressed_when_asked_and_a_small_one_is_not(server: Server) -> None:
    plain = raw(server, "/graphql", "identity", query=DEALS)
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 1024
    for coding, decompress in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        answer = raw(server, "/graphql", coding, query=DEALS)
        assert answer.headers["content-encoding"] == coding
        assert "accept-encoding" in answer.headers["vary"].lower()
        assert len(answer.content) < len(plain.content)
        assert json.loads(decompress(answer.content)) == plain.json()
    small = raw(server, "/health", "gzip, br")
    assert "content-encoding" not in small.headers and small.json()["status"] == "ok"


def test_the_export_is_compressed_when_asked(server: Server) -> None:
    plain = raw(server, "/export", "identity")
    answer = raw(server, "/export", "gzip")
    assert answer.headers["content-encoding"] == "gzip"
    assert gzip.decompress(answer.content) == plain.content
    assert plain.content.count(b"\n") >= 100  # the seeded web's events


def test_a_cached_past_answer_has_an_etag_per_representation(server: Server) -> None:
    plain = raw(server, "/graphql", "identity", query=DEALS)
    zipped = raw(server, "/graphql", "gzip", query=DEALS)
    assert plain.headers["cache-control"].endswith("immutable")
    assert zipped.headers["cache-control"].endswith("immutable")
    assert plain.headers["etag"] != zipped.headers["etag"]
    for response in (plain, zipped):
        assert "accept-encoding" in response.headers["vary"].lower()
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        revalidated = client.get(
            f"{server.url}/graphql",
            params={"query": DEALS},
            headers={"If-None-Match": zipped.headers["etag"]},
        )
        assert revalidated.status_code == 304
        assert revalidated.headers["etag"] == zipped.headers["etag"]
        # a proxy's weakened tag matches too; a plain answer's tag does not stand for the gzip one
        weak = client.get(
            f"{server.url}/graphql",
            params={"query": DEALS},
            headers={"If-None-Match": "W/" + zipped.headers["etag"]},
        )
        assert weak.status_code == 304
    other = raw(server, "/graphql", "br", query=DEALS)
    assert other.headers["etag"] not in (plain.headers["etag"], zipped.headers["etag"])


def test_cors_answers_the_named_origins_only(server: Server) -> None:
    preflight = httpx.options(
        f"{server.url}/graphql",
        headers={
            "Origin": DASHBOARD,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    asked = httpx.post(
        f"{server.url}/graphql", json={"query": "{ __typename }"}, headers={"Origin": DASHBOARD}
    )
    assert asked.headers["access-control-allow-origin"] == DASHBOARD
    stranger = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"Origin": "https://evil.example.com"},
    )
    assert "access-control-allow-origin" not in stranger.headers


def test_without_the_setting_there_are_no_cors_headers(database: TestDatabase) -> None:
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as server:
        answer = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ __typename }"},
            headers={"Origin": DASHBOARD},
        )
        assert answer.status_code == 200
        assert not [h for h in answer.headers if h.startswith("access-control-")]
