"""Subscriptions over websockets (graphql-transport-ws) with a real client (gql), fed by events
that other processes append: each event after its commit, to every subscriber, in order, and a
subscriber that stops reading holds up nobody."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger
from tests.e2e.test_graphql import create_key

SUBSCRIBE = """
subscription($types: [String!], $after: Int) {
  eventRecorded(types: $types, afterPosition: $after) { position stream type recordedAt hash }
}
"""


HEAVY = (
    """subscription { eventRecorded { position stream type data source metadata hash prevHash } }"""
)


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url)


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Server]:
    with Server(env) as running:
        yield running


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


def transport(server: Server, key: str | None = None) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=ws_url(server),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        headers={"Authorization": f"Bearer {key}"} if key else None,
    )


async def collect(
    server: Server, count: int, ready: asyncio.Event, key: str | None = None, **variables: Any
) -> list[dict[str, Any]]:
    """Subscribe, signal ``ready`` once the server has acknowledged, gather ``count`` events."""
    received: list[dict[str, Any]] = []
    async with Client(transport=transport(server, key)) as session:
        request = GraphQLRequest(SUBSCRIBE, variable_values=variables)
        stream = session.subscribe(request)
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # the subscribe message is on its way before we say ready
        ready.set()
        while len(received) < count:
            result = await asyncio.wait_for(pending, timeout=60)
            received.append(result["eventRecorded"])
            if len(received) < count:
                pending = asyncio.ensure_future(stream.__anext__())
        await stream.aclose()
    return received


def append_elsewhere(env: dict[str, str], events: int) -> int:
    """Another process appends ``events`` or so; returns the head position after it."""
    result = run_ledger("synth", "--events", str(events), "--entities", "20", env=env)
    assert result.returncode == 0, result.stderr
    return int(run_ledger("head", env=env).stdout.split(":")[0])


async def wait_followers(server: Server, count: int) -> None:
    """The subscription is live once the server's tail has a follower for it."""
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(600):
            ready = (await client.get(f"{server.url}/ready")).json()
            if ready.get("subscriptions", 0) >= count:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the subscriptions never became live")


def test_subscribers_receive_each_event_appended_by_another_process_in_order(
    server: Server, env: dict[str, str]
) -> None:
    async def scenario() -> tuple[list[list[dict]], int]:
        ready = [asyncio.Event() for _ in range(3)]
        # three subscribers; the size is known once the other process is done, so ask for 60
        # and check them against the log below
        tasks = [asyncio.create_task(collect(server, 60, r)) for r in ready]
        await wait_followers(server, 3)
        head = await asyncio.to_thread(append_elsewhere, env, 80)
        return await asyncio.gather(*tasks), head

    results, head = asyncio.run(scenario())
    assert head >= 60
    for received in results:
        assert [e["position"] for e in received] == list(range(1, 61))
        assert all(len(e["hash"]) == 64 and e["recordedAt"].endswith("Z") for e in received)


def test_a_subscription_filters_by_type_and_resumes_after_a_position(
    server: Server, env: dict[str, str]
) -> None:
    head = append_elsewhere(env, 60)

    async def scenario() -> list[dict]:
        ready = asyncio.Event()
        return await collect(server, 3, ready, types=["DealAnnounced"], after=0)

    received = asyncio.run(scenario())
    assert [e["type"] for e in received] == ["DealAnnounced"] * 3
    positions = [e["position"] for e in received]
    assert positions == sorted(positions) and positions[-1] <= head


def test_a_subscriber_that_stops_reading_does_not_stall_the_others(
    server: Server, env: dict[str, str]
) -> None:
    """One client subscribes and never reads its socket; 6,000 events (megabytes, beyond the
    socket buffers) later, a second subscriber has had every one of them, and the stalled one,
    once it reads, gets all of them too, in order: nothing was dropped."""
    total = 6000

    async def scenario() -> tuple[list[dict], list[int]]:
        # a small receive buffer and a short queue: the stalled client's socket fills at once
        # and the server's sends to it block, as with a client on a slow link
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        async with websockets.connect(
            ws_url(server),
            sock=sock,
            subprotocols=["graphql-transport-ws"],
            max_size=None,
            max_queue=4,
        ) as stalled:
            await stalled.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await stalled.recv())["type"] == "connection_ack"
            await stalled.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": HEAVY}})
            )
            ready = asyncio.Event()
            fast = asyncio.create_task(collect(server, total, ready))
            await wait_followers(server, 2)
            await asyncio.to_thread(append_elsewhere, env, total + 500)
            received = await fast  # all of them, while the other one reads nothing
            late = []
            while len(late) < total:
                message = json.loads(await asyncio.wait_for(stalled.recv(), timeout=60))
                if message["type"] == "next":
                    late.append(message["payload"]["data"]["eventRecorded"]["position"])
            return received, late

    received, late = asyncio.run(scenario())
    assert [e["position"] for e in received] == list(range(1, total + 1))
    assert late == list(range(1, total + 1))


def test_in_production_a_subscription_needs_an_auditor_key(database: TestDatabase) -> None:
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")
    reader = create_key(env, "reader")
    auditor = create_key(env, "auditor")
    with Server(env) as running:

        async def attempt(key: str) -> list[dict]:
            return await collect(running, 1, asyncio.Event(), key, after=0)

        with pytest.raises(TransportQueryError, match="needs an auditor's API key"):
            asyncio.run(attempt(reader))
        append_elsewhere(env, 40)
        assert asyncio.run(attempt(auditor))[0]["position"] == 1


def test_in_production_a_browser_sends_its_key_in_connection_init(database: TestDatabase) -> None:
    """A browser's WebSocket cannot set handshake headers: the key may come in the
    connection_init payload instead (as graphql-ws, Apollo and Hasura clients send it)."""
    env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_ENV="production")
    reader = create_key(env, "reader")
    auditor = create_key(env, "auditor")
    append_elsewhere(env, 40)

    async def first(payload: dict[str, Any]) -> dict[str, Any]:
        client_transport = WebsocketsTransport(
            url=ws_url(running),
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload=payload,
        )
        async with Client(transport=client_transport) as session:
            stream = session.subscribe(GraphQLRequest(SUBSCRIBE, variable_values={"after": 0}))
            result = await asyncio.wait_for(stream.__anext__(), timeout=60)
            await stream.aclose()
            return result["eventRecorded"]

    with Server(env) as running:
        assert asyncio.run(first({"Authorization": f"Bearer {auditor}"}))["position"] == 1
        assert asyncio.run(first({"headers": {"x-api-key": auditor}}))["position"] == 1
        with pytest.raises(TransportQueryError, match="needs an auditor's API key"):
            asyncio.run(first({"Authorization": f"Bearer {reader}"}))
        for refused in ({}, {"Authorization": "Bearer not-a-key"}):
            assert asyncio.run(closed_after_init(running, refused)) == 4403


async def closed_after_init(server: Server, payload: dict[str, Any]) -> int | None:
    """The close code the server answers ``connection_init`` with (None: acknowledged)."""
    async with websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        assert answer["type"] == "connection_ack", answer
        return None
