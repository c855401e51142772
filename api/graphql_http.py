"""GraphQL over HTTP (the GraphQL Foundation's spec) and RFC 9110 at the ``/graphql`` edge.

- The media type ``application/graphql-response+json`` when the client's ``Accept`` prefers
  it, with the spec's status codes: a request error (the document does not parse or validate,
  a variable does not coerce, a limit refuses it: no ``data`` at all) is 400 without a
  ``data`` entry; a response with ``data`` is 200. ``application/json`` (the default, and
  for ``Accept: */*``) keeps 200 for every GraphQL response, as the spec allows it.
- Refusals of the HTTP layer are GraphQL errors in JSON (``{"errors": [{"message": ...,
  "extensions": {"code": ...}}]}``), never plain text: a mutation over GET (405 with
  ``Allow: POST``), a batch, a persisted-query hash (``PERSISTED_QUERY_NOT_SUPPORTED``,
  Apollo's code), a body that does not parse, one over the size limit (413, naming it), and a
  missing or refused key (401 with ``WWW-Authenticate``, RFC 9110 section 11.6.1).
- ``Allow`` headers list only HTTP methods (Litestar's list of a route also names
  ``websocket``).

The one table of the ledger's own errors stays ``api.graphql.errors``; these are the HTTP
layer's refusals, mapped here once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cross_web import HTTPException as StrawberryHTTPException
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import InvalidOperationTypeError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
REALM = 'Bearer realm="deal-ledger"'

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Any]


def _quality(accept: str, media_type: str) -> float:
    """The q the ``Accept`` header gives ``media_type`` exactly (0 when it is not named)."""
    best = 0.0
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() != media_type:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def response_media_type(accept: str | None) -> str:
    """``application/graphql-response+json`` when the client names it at least as high as
    ``application/json``; otherwise ``application/json`` (also for no Accept, or ``*/*``)."""
    if not accept:
        return JSON
    wanted = _quality(accept, GRAPHQL_RESPONSE)
    return GRAPHQL_RESPONSE if wanted > 0 and wanted >= _quality(accept, JSON) else JSON


def errors_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def refusal(
    accept: str | None,
    status: int,
    message: str,
    code: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response[bytes]:
    """A refusal of the HTTP layer as a GraphQL error in the negotiated JSON media type."""
    return Response(
        json.dumps(errors_body(message, code, **extensions)).encode(),
        status_code=status,
        media_type=response_media_type(accept),
        headers=dict(headers or {}),
    )


async def strawberry_refusal(
    request: Request[Any, Any, Any], exc: StrawberryHTTPException
) -> Response[bytes]:
    """What Strawberry refuses with plain text, as the spec's JSON errors and status codes."""
    accept = request.headers.get("accept")
    cause = exc.__cause__
    if isinstance(cause, InvalidOperationTypeError) and request.method == "GET":
        return refusal(
            accept,
            405,
            f"{exc.reason}: send it with POST",
            "METHOD_NOT_ALLOWED",
            {"Allow": "POST"},
        )
    if exc.status_code == 405:
        return refusal(accept, 405, exc.reason, "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"})
    if exc.reason == "Batching is not enabled":
        return refusal(
            accept,
            400,
            "batched requests (a JSON array of operations) are not supported: "
            "send one operation per request",
            "BATCHING_NOT_SUPPORTED",
        )
    if isinstance(cause, MissingQueryError) and await _asks_persisted(request):
        # Apollo's automatic persisted queries: a client that sees this sends the query text
        return refusal(accept, 400, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
    return refusal(accept, exc.status_code, exc.reason, "BAD_REQUEST")


async def _asks_persisted(request: Request[Any, Any, Any]) -> bool:
    if request.method == "GET":
        text = request.query_params.get("extensions")
    else:
        try:
            text = (await request.body()).decode()
        except Exception:  # the body was already refused for another reason
            return False
    try:
        extensions = json.loads(text) if text else None
    except ValueError:
        return False
    if isinstance(extensions, dict) and request.method != "GET":
        extensions = extensions.get("extensions")
    return isinstance(extensions, dict) and "persistedQuery" in extensions


def conformed(request: Request[Any, Any, Any], response: Response[Any]) -> Response[Any]:
    """A GraphQL response in the media type the client asked for, with the spec's status."""
    media_type = response_media_type(request.headers.get("accept"))
    if media_type == JSON or response.media_type != JSON or not isinstance(response.content, bytes):
        return response
    try:
        body = json.loads(response.content)
    except ValueError:
        return response
    status = response.status_code
    if isinstance(body, dict) and body.get("data") is None and _request_error(body):
        body.pop("data", None)  # a request error: the operation never ran
        status = 400
    answer = Response(
        json.dumps(body).encode(),
        status_code=status,
        media_type=media_type,
        headers=dict(response.headers),
        background=response.background,
    )
    answer.cookies.extend(response.cookies or ())
    return answer


def _request_error(body: dict[str, Any]) -> bool:
    """No data and every error outside any field (no ``path``): parsing, validation, variable
    coercion or a limit refused the request before it ran."""
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return False
    return all(isinstance(e, dict) and "path" not in e for e in errors)


def unauthorized(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """401 with ``WWW-Authenticate`` on every route; on /graphql a GraphQL error body."""
    headers = {"WWW-Authenticate": REALM, **(exc.headers or {})}
    if request.url.path.rstrip("/") == "/graphql":
        return refusal(request.headers.get("accept"), 401, exc.detail, "UNAUTHENTICATED", headers)
    return Response({"status_code": 401, "detail": exc.detail}, status_code=401, headers=headers)


def too_large(limit: int) -> Callable[[Request[Any, Any, Any], HTTPException], Response[Any]]:
    """413 that names the limit (docs/api.md, "Limits")."""

    def handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        message = f"the request body is too large: the limit is {limit // 1024} KiB ({limit} bytes)"
        if request.url.path.rstrip("/") == "/graphql":
            return refusal(
                request.headers.get("accept"), 413, message, "REQUEST_TOO_LARGE", limit=limit
            )
        return Response({"status_code": 413, "detail": message}, status_code=413)

    return handler


def allowed_methods(app: Any, path: str, listed: str) -> str:
    """The HTTP methods ``path`` really answers: its routes' methods when the path is one of
    the app's own (Litestar's OPTIONS answer names only some of them), else ``listed`` without
    what is not an HTTP method (Litestar's 405 names ``websocket``)."""
    methods: set[str] = set()
    for route in getattr(app, "routes", ()):
        if getattr(route, "path", None) == path:
            methods |= {m.upper() for m in getattr(route, "methods", ()) or ()}
    if not methods:
        methods = {m.strip().upper() for m in listed.split(",")}
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return ", ".join(m for m in order if m in methods)


def method_not_allowed(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """405 with the real ``Allow``; on /graphql a GraphQL error body."""
    listed = (exc.headers or {}).get("Allow", "")
    allow = allowed_methods(request.app, request.url.path, listed)
    if request.url.path.rstrip("/") == "/graphql":
        return refusal(
            request.headers.get("accept"),
            405,
            f"{request.method} is not allowed here; allowed: {allow}",
            "METHOD_NOT_ALLOWED",
            {"Allow": allow},
        )
    return Response(
        {"status_code": 405, "detail": "Method Not Allowed"},
        status_code=405,
        headers={"Allow": allow},
    )


def real_allow_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: every ``Allow`` a route answers with names the methods it answers."""

    async def middleware(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"allow":
                        # OPTIONS: what the path answers; else what this request may use
                        # (a mutation over GET: POST alone), less what is not a method
                        routes = scope.get("litestar_app") if scope["method"] == "OPTIONS" else None
                        listed = value.decode("latin-1")
                        value = allowed_methods(routes, scope["path"], listed).encode()
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        return await app(scope, receive, sending)

    return middleware
