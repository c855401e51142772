"""Relay cursor connections over real HTTP (issue 20, point 6): ``deals`` and ``events`` page
forward with first/after and back with last/before, with all of PageInfo, over the seeded
deal web; both directions walk the same list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger

DEALS = """query($first: Int, $after: String, $last: Int, $before: String) {
  deals(asOf: "2026-06-30", first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
EVENTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  events(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { position } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


@pytest.fixture(scope="module")
def url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    from tests.conftest import _fresh_database

    databases = _fresh_database(pg_admin_url, template_database)
    database: TestDatabase = next(databases)
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url)
    assert run_ledger("seed", env=env).returncode == 0
    with Server(env) as server:
        yield server.url
    databases.close()


def ask(url: str, query: str, **variables: Any) -> dict[str, Any]:
    body = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


def walk_forward(url: str, query: str, size: int) -> list[dict]:
    pages, after = [], None
    while True:
        page = ask(url, query, first=size, after=after)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


def walk_back(url: str, query: str, size: int) -> list[dict]:
    pages, before = [], None
    while True:
        page = ask(url, query, last=size, before=before)
        pages.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            return pages[::-1]
        before = page["pageInfo"]["startCursor"]


@pytest.mark.parametrize(
    "query, key", [(DEALS, "id"), (EVENTS, "position")], ids=["deals", "events"]
)
def test_last_and_before_walk_back_through_the_same_list(url: str, query: str, key: str) -> None:
    everything = [e["node"][key] for e in ask(url, query, first=500)["edges"]]
    assert len(everything) > 20
    forward = walk_forward(url, query, 7)
    back = walk_back(url, query, 7)
    assert [e["node"][key] for p in forward for e in p["edges"]] == everything
    assert [e["node"][key] for p in back for e in p["edges"]] == everything
    for page in forward + back:  # every page's cursors are its first and last edge's
        info, edges = page["pageInfo"], page["edges"]
        assert (info["startCursor"], info["endCursor"]) == (edges[0]["cursor"], edges[-1]["cursor"])
    assert (
        not forward[0]["pageInfo"]["hasPreviousPage"] and forward[1]["pageInfo"]["hasPreviousPage"]
    )
    assert not back[-1]["pageInfo"]["hasNextPage"] and back[0]["pageInfo"]["hasNextPage"]


def test_first_is_optional_with_its_default_and_not_combined_with_last(url: str) -> None:
    page = ask(url, EVENTS)
    assert len(page["edges"]) == 50 and page["pageInfo"]["hasNextPage"]
    refused = httpx.post(
        f"{url}/graphql", json={"query": EVENTS, "variables": {"first": 2, "last": 2}}
    ).json()
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "last"}
    wrong = httpx.post(
        f"{url}/graphql",
        json={
            "query": DEALS,
            "variables": {"before": ask(url, EVENTS, first=1)["pageInfo"]["endCursor"]},
        },
    ).json()
    assert wrong["errors"][0]["extensions"]["field"] == "before"
