"""What operators see: JSON logs with a request id, and Prometheus metrics at /metrics.

Every request gets an id (the caller's ``X-Request-ID`` if it sent a sane one, else a new
one), echoed in the response and bound to every log line written while serving it, so one
grep follows a request through the logs. Metrics are Litestar's request counter and latency
histogram, plus the ledger's own: events appended through this service, and -- read from the
database at scrape time, so every worker reports the same truth -- the head position and the
projection lag. With several workers (``ledger serve --workers N``) the counters of all of
them are summed in the directory ``api.workers`` gives them (``metrics_dir``).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from litestar import Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger import queries

log = structlog.get_logger("ledger.http")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

EVENTS_APPENDED = Counter(
    "ledger_events_appended",
    "Events recorded through this service's mutations, by type.",
    ["type"],
)

PROMETHEUS = PrometheusConfig(
    app_name="deal_ledger",
    prefix="ledger",
    group_path=True,  # label by route (/graphql), not by raw path
    exclude=["^/metrics"],
    buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
)


def configure_logging(level: str = "info") -> None:
    """One JSON object per line on stdout, for the service and for uvicorn's own messages."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line carries the id
    logging.getLogger("alembic").setLevel(logging.WARNING)


def request_context(app: Any) -> Any:
    """ASGI middleware: the request id, and one access log line per HTTP request."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)
        given = dict(scope.get("headers", ())).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope.get("method", "WEBSOCKET"),
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
        return None

    return middleware


class LedgerCollector(Collector):
    """The head position and projection lag, read from the database when scraped."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ledger = self.state.ledger
        if ledger.read_primary is not None:
            served = CounterMetricFamily(
                "ledger_standby_answers",
                "Snapshots of questions asked of the read URL, by where they were answered "
                "(this process): standby, primary (the standby was behind), standby_alone "
                "(the primary was unreachable).",
                labels=["served"],
            )
            counters = queries.standby_counters()
            for label, value in counters.items():
                served.add_metric([label], value)
            yield served
        try:
            status = ledger.projector().status()
        except Exception:  # an unreachable database shows as missing gauges, and in /ready
            return
        yield GaugeMetricFamily(
            "ledger_head_position", "Position of the ledger's last event.", value=status.head
        )
        yield GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Events recorded but not yet applied to the read models.",
            value=status.lag,
        )
        yield GaugeMetricFamily(
            "ledger_projection_checkpoint",
            "Last position applied to the read models.",
            value=status.checkpoint,
        )


class Metrics(PrometheusController):
    """/metrics: Litestar's request metrics, ours, and the ledger's gauges."""

    @get(sync_to_thread=True)
    def get(self, state: State) -> Response:
        registry = CollectorRegistry()
        if state.get("metrics_dir") is not None:
            multiprocess.MultiProcessCollector(registry, path=str(state.metrics_dir))
            registry.register(LedgerCollector(state))
            body = generate_latest(registry)
        else:
            body = generate_latest(REGISTRY) + generate_latest(_ledger_only(registry, state))
        # the exposition format's type names its charset already; Litestar would add a second
        return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})


def _ledger_only(registry: CollectorRegistry, state: State) -> CollectorRegistry:
    registry.register(LedgerCollector(state))
    return registry
