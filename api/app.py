"""The Litestar app factory: thin routes over the wired ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cross_web import HTTPException as StrawberryHTTPException
from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import DefineMiddleware
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_401_UNAUTHORIZED,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import Scope
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller

from api import graphql_http
from api.audit import export
from api.caching import past_queries_cached
from api.callers import caller, caller_of, key_in_payload, presented_key
from api.compression import COMPRESSION
from api.dashboard import dashboard
from api.graphql.context import Context
from api.graphql.schema import build_schema
from api.observability import PROMETHEUS, Metrics, request_context
from ledger import __version__
from ledger.projections.follower import Follower
from ledger.runtime import Ledger, check_schema
from ledger.signing import published
from ledger.store.engine import listen_url
from ledger.store.tail import Tail


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: the process answers. Says nothing about the database (see /ready)."""
    return {"status": "ok", "version": __version__}


@get("/ready", sync_to_thread=True)
def ready(state: State) -> Response[dict[str, object]]:
    """Readiness: the database answers, its schema is the one this code expects; and how far
    the read models lag behind the log."""
    ledger: Ledger = state.ledger
    try:
        check_schema(ledger.engine)
        head = ledger.store.head()
        projection = ledger.projector().status()
    except Exception as exc:  # readiness reports any failure rather than raising it
        return Response(
            {"status": "unavailable", "reason": str(exc).splitlines()[0]},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    return Response(
        {
            "status": "ready",
            "head": {"position": head.position, "hash": head.hash},
            "projections": {
                projection.name: {"checkpoint": projection.checkpoint, "lag": projection.lag}
            },
            "subscriptions": state.tail.followers if "tail" in state else 0,
        },
        status_code=HTTP_200_OK,
    )


@get("/.well-known/ledger-key", sync_to_thread=False, media_type="text/plain")
def ledger_key(state: State) -> Response[str]:
    """The ledger's verifier keys (C2SP vkey), one a line: the current key first, then the
    keys it replaced (docs/proofs.md). 404 when the ledger signs no checkpoints."""
    ledger: Ledger = state.ledger
    text = published(ledger.signing_key, ledger.retired_keys)
    return Response(text or "this ledger has no checkpoint key\n", status_code=200 if text else 404)


MAX_BODY_BYTES = 256 * 1024  # a GraphQL request, even a large mutation, fits easily


STATIC = Path(__file__).resolve().parent / "static"
GRAPHIQL_HTML = (STATIC / "graphiql" / "index.html").read_text()


def _graphql_controller(production: bool) -> type:
    # ``state`` and ``headers`` (not ``request``) so that one getter serves both HTTP requests
    # and websockets (subscriptions), whose connection carries the key in its headers or, from
    # a browser, in its connection_init payload (checked then: ``on_ws_connect``).
    async def context(state: State, headers: dict[str, str], scope: Scope) -> Context:
        ledger: Ledger = state.ledger
        later = scope["type"] == "websocket" and presented_key(headers) is None
        found = None if later else await caller(ledger, headers)
        return Context(
            ledger=ledger,
            role=found.role if found else None,
            actor=found.name if found else None,
            request_id=scope.get("state", {}).get("request_id"),
            production=production,
            tail=state.get("tail"),
        )

    controller = make_graphql_controller(
        build_schema(introspection=not production),
        path="/graphql",
        context_getter=context,
        graphql_ide=None if production else "graphiql",
    )

    class GraphQLWithLocalIDE(controller):  # type: ignore[valid-type, misc]
        """GraphiQL from the app's own files (api/static/graphiql), never from a CDN."""

        graphql_ide_html = GRAPHIQL_HTML

        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[Any]:
            """GraphQL over HTTP's media types, status codes and JSON refusals
            (``api.graphql_http``) around Strawberry's answer."""
            try:
                response = await self.run(request, context=context, root_value=root_value)
            except StrawberryHTTPException as exc:
                return await graphql_http.strawberry_refusal(request, exc)
            return graphql_http.conformed(request, response)

        async def on_ws_connect(self, context: Context) -> Any:
            """A websocket without a key in its handshake may send one in ``connection_init``;
            the same rule as headers (``caller_of``), refused with close code 4403."""
            if context.role is None:
                try:
                    found = await caller_of(
                        context.ledger, key_in_payload(context.connection_params)
                    )
                except NotAuthorizedException as exc:
                    raise ConnectionRejectionError({"message": exc.detail}) from None
                if found is not None:
                    context.role, context.actor = found.role, found.name
            return await super().on_ws_connect(context)

    return GraphQLWithLocalIDE


def create_app(
    ledger: Ledger,
    *,
    project: bool = True,
    metrics_dir: Path | None = None,
    on_shutdown: Sequence[Callable[[], Any]] = (),
) -> Litestar:
    """The service; with ``project`` it also keeps the read models current (see Follower).
    ``metrics_dir`` is where the processes of ``serve --workers`` sum their metrics."""
    production = ledger.settings.production
    follower = Follower(ledger.projector())

    state = State({"ledger": ledger, "follower": follower, "metrics_dir": metrics_dir})

    async def start(app: Litestar) -> None:
        if project:
            follower.start()
        tail = Tail(ledger.store, listen_url(ledger.engine))
        await tail.start()
        state.tail = tail

    async def stop(app: Litestar) -> None:
        if "tail" in state:
            await state.tail.stop()
        await asyncio.to_thread(follower.stop)
        for action in on_shutdown:
            action()

    return Litestar(
        route_handlers=[
            health,
            ready,
            ledger_key,
            _graphql_controller(production),
            Metrics,
            export,
            dashboard,
            create_static_files_router(path="/static", directories=[STATIC]),
        ],
        state=state,
        on_startup=[start],
        on_shutdown=[stop],
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers={
            HTTP_401_UNAUTHORIZED: graphql_http.unauthorized,
            HTTP_405_METHOD_NOT_ALLOWED: graphql_http.method_not_allowed,
            HTTP_413_REQUEST_ENTITY_TOO_LARGE: graphql_http.too_large(MAX_BODY_BYTES),
        },
        cors_config=CORSConfig(
            allow_origins=list(ledger.settings.cors_origins), allow_headers=["*"]
        )
        if ledger.settings.cors_origins
        else None,
        logging_config=None,  # api.observability.configure_logging owns the log format
        middleware=[
            COMPRESSION,  # outermost: api.compression
            graphql_http.real_allow_headers,  # type: ignore[list-item]
            request_context,
            PROMETHEUS.middleware,
            # caching types ASGI by hand (no Litestar import), which Litestar's stricter
            # ASGIApp alias does not accept although the shapes agree at run time
            DefineMiddleware(past_queries_cached, production=production),  # type: ignore[arg-type]
        ],
    )
