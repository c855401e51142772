"""Consistency (spec section 2) through the real server, its projector following the log as in
``ledger serve``: an answer at knownAt K reflects every event recorded by K, read your writes
(``atLeastPosition``, ``Ledger-Min-Position``), answers pinned to a position (``atPosition``),
and ``extensions.ledger.position`` on every response."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger

SOURCE = {"url": "https://example.org", "title": "generated"}


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def ask(self, query: str, headers: dict[str, str] | None = None, **variables: Any) -> Any:
        response = self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, query: str, headers: dict[str, str] | None = None, **variables: Any) -> Any:
        answer = self.ask(query, headers, **variables)
        assert "errors" not in answer, answer
        return answer

    def register(self, entity_id: str) -> dict[str, Any]:
        answer = self.ok(
            """mutation($id: String!, $source: SourceInput!) {
                 registerEntity(entityId: $id, name: $id, kind: "company",
                                effectiveAt: "2015-01-01", source: $source) {
                   ... on Recorded { event { position recordedAt } } } }""",
            id=entity_id,
            source=SOURCE,
        )
        return answer["data"]["registerEntity"]["event"] | {"ext": answer["extensions"]}

    def value(self, entity_id: str, usd: str) -> dict[str, Any]:
        answer = self.ok(
            """mutation($id: String!, $usd: Decimal!, $source: SourceInput!) {
                 reportValuation(entityId: $id, valuationUsd: $usd, basis: "estimate",
                                 effectiveAt: "2024-05-01", source: $source) {
                   ... on Recorded { event { position recordedAt } } } }""",
            id=entity_id,
            usd=usd,
            source=SOURCE,
        )
        return answer["data"]["reportValuation"]["event"] | {"ext": answer["extensions"]}


ENTITY = """query($id: ID!, $knownAt: DateTime, $atPosition: Int, $atLeast: Int) {
  entity(id: $id, asOf: "2025-01-01", knownAt: $knownAt, atPosition: $atPosition,
         atLeastPosition: $atLeast) { valuationUsd valuations { valuationUsd } } }"""


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_READ_WAIT_MS="1500")


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[Api]:
    created = run_ledger("keys", "create", "--role", "writer", env=env)
    assert created.returncode == 0, created.stderr
    with Server(env) as server:
        yield Api(server.url, created.stdout.strip())


def test_a_write_is_seen_at_its_own_recorded_at_at_once_and_ever_after(api: Api) -> None:
    # The defect of issue 15: right after reportValuation, a question at knownAt = its
    # recordedAt said null, and "1000" half a second later.
    api.register("a")
    for i in range(1, 21):
        written = api.value("a", str(1000 * i))
        position, recorded_at = written["position"], written["recordedAt"]
        assert written["ext"] == {"ledger": {"position": position}}
        at_k = api.ok(ENTITY, id="a", knownAt=recorded_at)
        assert at_k["data"]["entity"]["valuationUsd"] == str(1000 * i)
        assert at_k["extensions"]["ledger"]["position"] == position
        # now (the default knownAt): at least what was just written
        now = api.ok(ENTITY, id="a")
        assert now["data"]["entity"]["valuationUsd"] == str(1000 * i)
        assert now["extensions"]["ledger"]["position"] >= position
    # Ever after: the same question at the same knownAt, and at the basis position it stated.
    again = api.ok(ENTITY, id="a", knownAt=recorded_at)
    assert again == at_k
    pinned = api.ok(ENTITY, id="a", atPosition=position)
    assert pinned["data"] == at_k["data"]
    assert pinned["extensions"]["ledger"]["position"] == position
    before = api.ok(ENTITY, id="a", atPosition=position - 1)
    assert before["data"]["entity"]["valuationUsd"] == str(1000 * 19)
    assert len(before["data"]["entity"]["valuations"]) == 19


def test_read_your_writes_by_argument_or_header_and_clear_refusals(api: Api) -> None:
    first = api.register("b")
    written = api.value("b", "7")
    position = written["position"]
    by_argument = api.ok(ENTITY, id="b", atLeast=position)
    assert by_argument["data"]["entity"]["valuationUsd"] == "7"
    assert by_argument["extensions"]["ledger"]["position"] >= position
    by_header = api.ok(ENTITY, {"Ledger-Min-Position": str(position)}, id="b")
    assert by_header["data"]["entity"]["valuationUsd"] == "7"
    assert by_header["extensions"]["ledger"]["position"] >= position

    # knownAt before the position demanded: a clear refusal naming the argument
    refused = api.ask(ENTITY, id="b", knownAt=first["recordedAt"], atLeast=position)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["errors"][0]["extensions"]["field"] == "atLeastPosition"
    # a position the ledger does not hold yet: waits (bounded), then says so
    ahead = api.ask(ENTITY, id="b", atLeast=position + 1000)
    assert ahead["errors"][0]["extensions"]["code"] == "NOT_YET_KNOWN"
    assert ahead["errors"][0]["extensions"]["position"] == position + 1000
    bad_header = api.ask(ENTITY, {"Ledger-Min-Position": "soon"}, id="b")
    assert bad_header["errors"][0]["extensions"]["field"] == "Ledger-Min-Position"
    # atPosition before atLeastPosition
    crossed = api.ask(ENTITY, id="b", atPosition=1, atLeast=position)
    assert crossed["errors"][0]["extensions"]["field"] == "atPosition"


def test_a_position_demanded_before_it_is_written_is_waited_for(api: Api) -> None:
    api.register("c")
    head = api.ok("{ ledgerHead { position } }")
    assert head["extensions"]["ledger"]["position"] == head["data"]["ledgerHead"]["position"]
    upcoming = head["data"]["ledgerHead"]["position"] + 1
    answers: list[Any] = []
    asked = threading.Thread(
        target=lambda: answers.append(api.ask(ENTITY, id="c", atLeast=upcoming))
    )
    asked.start()
    api.value("c", "42")
    asked.join()
    (answer,) = answers
    if "errors" in answer:  # the write came after the whole wait: a clear refusal, not a guess
        assert answer["errors"][0]["extensions"]["code"] == "NOT_YET_KNOWN"
    else:
        assert answer["data"]["entity"]["valuationUsd"] == "42"
        assert answer["extensions"]["ledger"]["position"] >= upcoming


def test_every_response_states_its_basis_over_a_websocket_too(api: Api) -> None:
    written = api.register("d")
    url = api.url.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv())["type"] == "connection_ack"
        query = '{ entity(id: "d", asOf: "2025-01-01") { id } }'
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(ws.recv())
        assert message["type"] == "next", message
        assert message["payload"]["data"] == {"entity": {"id": "d"}}
        assert message["payload"]["extensions"]["ledger"]["position"] >= written["position"]


def test_concurrent_writers_and_readers_get_answers_that_never_change(api: Api) -> None:
    # Writers and readers at once, readers asking "now" (by default, and by their own clock):
    # every answer asked again afterwards, at the same knownAt and at the basis position it
    # stated, is identical (spec section 2: answers for a knownAt in the past never change).
    import datetime as dt

    for entity_id in ("w0", "w1"):
        api.register(entity_id)
    query = """query($knownAt: DateTime, $atPosition: Int) {
      a: entity(id: "w0", asOf: "2025-01-01", knownAt: $knownAt, atPosition: $atPosition) {
        valuationUsd valuations { valuationUsd } }
      b: entity(id: "w1", asOf: "2025-01-01", knownAt: $knownAt, atPosition: $atPosition) {
        valuationUsd } }"""
    seen: list[tuple[str | None, Any]] = []
    failures: list[BaseException] = []

    def write(entity_id: str) -> None:
        try:
            for i in range(15):
                api.value(entity_id, str(i + 1))
        except BaseException as exc:  # reported below
            failures.append(exc)

    def read(explicit: bool) -> None:
        try:
            for _ in range(20):
                known_at = dt.datetime.now(dt.UTC).isoformat() if explicit else None
                seen.append((known_at, api.ok(query, knownAt=known_at)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(e,)) for e in ("w0", "w1")]
    threads += [threading.Thread(target=read, args=(explicit,)) for explicit in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    for known_at, answer in seen:
        position = answer["extensions"]["ledger"]["position"]
        pinned = api.ok(query, atPosition=position)
        assert pinned["data"] == answer["data"], (known_at, position)
        assert pinned["extensions"]["ledger"]["position"] == position
        if known_at is not None:
            assert api.ok(query, knownAt=known_at) == answer


def test_a_pushed_event_is_visible_to_a_query_at_its_position_when_it_arrives(api: Api) -> None:
    # A dashboard that refetches on a push gets the new state (issue 15, subscriptions).
    registered = api.register("e")
    url = api.url.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv())["type"] == "connection_ack"
        subscription = (
            'subscription { eventRecorded(types: ["ValuationReported"], '
            f"afterPosition: {registered['position']}) {{ position }} }}"
        )
        ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": subscription}}))
        for i in range(5):
            api.value("e", str(i + 1))
            message = json.loads(ws.recv())
            assert message["type"] == "next", message
            position = message["payload"]["data"]["eventRecorded"]["position"]
            answer = api.ok(ENTITY, id="e", atLeast=position)
            assert answer["data"]["entity"]["valuationUsd"] == str(i + 1)
