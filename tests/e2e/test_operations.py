"""Running the service: Prometheus metrics, JSON logs with request ids, graceful shutdown, and
several worker processes -- against the real `ledger serve`."""

from __future__ import annotations

import json
import re
import signal
import socket

import httpx
import pytest

from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.e2e.test_graphql import Api, create_key


@pytest.fixture
def env(database: TestDatabase) -> dict[str, str]:
    return clean_env(LEDGER_DATABASE_URL=database.libpq_url)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format."""
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in /metrics")


def test_metrics_count_requests_latency_appends_head_and_lag(env: dict[str, str]) -> None:
    with Server(env) as server:
        api = Api(server.url, create_key(env, "writer"))
        api.register("openai", "OpenAI")
        api.register("nvidia", "Nvidia")
        api.wait_projected()
        text = httpx.get(f"{server.url}/metrics").text
    assert metric(text, "ledger_requests_total", path="/graphql", method="POST") >= 2
    assert metric(text, "ledger_request_duration_seconds_count", path="/graphql") >= 2
    assert "ledger_request_duration_seconds_bucket" in text
    assert metric(text, "ledger_events_appended_total", type="EntityRegistered") == 2
    assert metric(text, "ledger_head_position") == 2
    assert metric(text, "ledger_projection_lag_events") == 0


def test_each_request_has_an_id_in_its_response_and_in_the_json_log(env: dict[str, str]) -> None:
    with Server(env) as server:
        given = httpx.get(f"{server.url}/health", headers={"X-Request-ID": "audit-42"})
        made = httpx.get(f"{server.url}/ready")
        server.wait_for('"request_id": "audit-42"')
        server.wait_for(made.headers["x-request-id"])
        output = list(server.output)
    assert given.headers["x-request-id"] == "audit-42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    lines = [json.loads(line) for line in output if line.startswith("{")]
    access = next(x for x in lines if x.get("request_id") == "audit-42")
    assert access["path"] == "/health" and access["status"] == 200
    assert access["event"] == "request" and access["level"] == "info"
    assert access["timestamp"].endswith("Z") and access["duration_ms"] >= 0


def test_a_request_id_that_is_not_sane_is_replaced(env: dict[str, str]) -> None:
    with Server(env) as server:
        response = httpx.get(f"{server.url}/health", headers={"X-Request-ID": "a b\tc" * 50})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_sigterm_lets_a_request_in_flight_finish_then_exits_cleanly(env: dict[str, str]) -> None:
    body = json.dumps({"query": "{ ledgerHead { position } }"}).encode()
    with Server(env) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
            conn.sendall(head)
            # "100 Continue" comes once the app asks for the body: the request is in flight
            assert conn.recv(1024).startswith(b"HTTP/1.1 100")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            server.wait_for("Shutting down")
            conn.sendall(body)
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        assert server.process.wait(timeout=30) == 0
    assert response.startswith(b"HTTP/1.1 200")
    assert b'{"data":{"ledgerHead":{"position":0}},"extensions":{"ledger":{"position":0}}}' in (
        response
    )


def test_several_workers_serve_one_ledger_and_sum_their_metrics(env: dict[str, str]) -> None:
    with Server(env, "--workers", "2") as server:
        server.wait_for("Application startup complete", timeout=60, count=2)
        api = Api(server.url, create_key(env, "writer"))
        for i in range(6):
            api.register(f"e{i}", f"Entity {i}")
        api.wait_projected()
        for _ in range(20):  # a new connection each, spread over the workers
            assert httpx.get(f"{server.url}/health").status_code == 200
        text = httpx.get(f"{server.url}/metrics").text
        assert metric(text, "ledger_events_appended_total", type="EntityRegistered") == 6
        assert metric(text, "ledger_requests_total", path="/health", method="GET") >= 20
        assert server.stop() == 0
