"""HTTP caching of the past: a GET query whose every answer is final is served immutable.

An answer is final when every root field states its ``knownAt`` (and its valid time: ``asOf``,
or ``from``/``to`` for a series) and every ``knownAt`` is earlier than the ledger's horizon
(``ledger.projections.horizon``): nothing recorded later can change it. Such a response
gets a strong ``ETag`` and ``Cache-Control: public, max-age=31536000, immutable`` (``private``
in production, where answers depend on the caller's key), and a request carrying that ETag in
``If-None-Match`` is answered 304 without running the query.

The ETag is derived from the request, not the body, because the body is a function of the
request: the code version, the ledger (its first event's hash), the caller's key, the query
text, its variables and operation name. So a 304 costs one small query, not the answer.
Responses with errors are never marked cacheable. The content coding of a large answer
(``api.compression``) is part of its ETag, so a gzip answer and a plain one never share a tag.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    parse,
)

from api.compression import MIN_BYTES, coding
from api.graphql_http import response_media_type
from ledger import __version__
from ledger.domain.instants import parse_instant
from ledger.projections.horizon import horizon

IMMUTABLE = "max-age=31536000, immutable"
NO_STORE = b"no-store"
VARY = b"Accept, Authorization, X-API-Key"  # what the ETag is made of, besides the URL
ENCODING = b"Accept-Encoding"  # and the coding of a large answer (api.compression adds it there)
# Root fields whose answer is fixed by (valid time, knowledge time) and their arguments.
VALID_TIME_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "exposureGraph": ("asOf",),
    "entity": ("asOf",),
    "deals": ("asOf",),
    "deal": ("asOf",),
    "circularFlows": ("asOf",),
    "stressTest": ("asOf",),
    "series": ("from", "to"),
}

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Any]


def latest_known_at(
    query: str, variables: Mapping[str, Any] | None, operation_name: str | None
) -> dt.datetime | None:
    """The latest ``knownAt`` among the root fields of the operation, if every root field is a
    fixed-time read that states its times; else None (not cacheable)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return None
    latest: dt.datetime | None = None
    for selection in operations[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None  # fragments at the root: keep it simple, do not cache
        name = selection.name.value
        if name == "__typename":
            continue
        if name not in VALID_TIME_ARGUMENTS:
            return None
        arguments = {a.name.value: a.value for a in selection.arguments or ()}
        times = {}
        for argument in ("knownAt", *VALID_TIME_ARGUMENTS[name]):
            value = _value(arguments.get(argument), variables or {})
            if value is None:
                return None
            times[argument] = value
        known_at = times["knownAt"]
        latest = known_at if latest is None else max(latest, known_at)
    return latest


def _value(node: Any, variables: Mapping[str, Any]) -> dt.datetime | None:
    if isinstance(node, VariableNode):
        raw = variables.get(node.name.value)
    elif isinstance(node, StringValueNode):
        raw = node.value
    else:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        return None


def etag(*parts: str | None) -> str:
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()
    return f'"{digest[:40]}"'


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def past_queries_cached(app: ASGIApp, production: bool = False) -> ASGIApp:
    """ASGI middleware around the app: caching headers and 304s for GET /graphql."""
    control = ("private, " if production else "public, ") + IMMUTABLE

    async def middleware(scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"].rstrip("/") != "/graphql"
        ):
            return await app(scope, receive, send)
        parts = await _etag_parts_if_final(scope)
        if parts is None:
            return await app(scope, receive, _no_store(send))
        accept_encoding = _header(scope, b"accept-encoding")
        # the client holds the plain answer (small, or not coded) or the coded one (large);
        # either matches ("*" answers with the plain one's tag)
        held = [etag(*parts, None), etag(*parts, coding(accept_encoding, MIN_BYTES))]
        if_none_match = _header(scope, b"if-none-match")
        tag = next((t for t in held if matches(t, if_none_match)), None)
        if tag is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [
                        (b"etag", tag.encode()),
                        (b"cache-control", control.encode()),
                        (b"vary", VARY + b", " + ENCODING),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return None
        await _send_marked(app, scope, receive, send, parts, control)
        return None

    return middleware


def matches(tag: str, if_none_match: str | None) -> bool:
    """RFC 9110 section 13.1.2: ``*`` matches any current answer, and the comparison is weak
    (``W/"x"`` matches ``"x"``: a proxy that compresses a response weakens its ETag)."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = tag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(",")
    )


def _no_store(send: Any) -> Any:
    """A GET answer that may change is marked ``no-store``: no cache keeps it."""

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", NO_STORE))
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def _etag_parts_if_final(scope: Scope) -> tuple[str | None, ...] | None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    query = (params.get("query") or [None])[0]
    if not query:
        return None
    variables_text = (params.get("variables") or [None])[0]
    operation_name = (params.get("operationName") or [None])[0]
    try:
        variables = json.loads(variables_text) if variables_text else None
    except ValueError:
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    known_at = latest_known_at(query, variables, operation_name)
    if known_at is None:
        return None
    ledger = scope["litestar_app"].state.ledger
    settled = await asyncio.to_thread(horizon, ledger.engine)
    if settled is None or not known_at < settled.settled_before:
        return None
    key = _header(scope, b"authorization") or _header(scope, b"x-api-key")
    return (
        __version__,
        settled.genesis,
        hashlib.sha256(key.encode()).hexdigest() if key else None,
        query,
        json.dumps(variables, sort_keys=True) if variables else None,
        operation_name,
        response_media_type(_header(scope, b"accept")),  # the body's media type follows Accept
    )


async def _send_marked(
    app: ASGIApp, scope: Scope, receive: Any, send: Any, parts: tuple[str | None, ...], control: str
) -> None:
    """Run the query; mark the response cacheable only if it is a 200 without errors, with the
    ETag of the representation it goes out as (plain, gzip or br: ``api.compression``)."""
    accept_encoding = _header(scope, b"accept-encoding")
    start: dict[str, Any] = {}
    body = bytearray()

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = list(start.get("headers", []))
            if start.get("status") == 200 and not _has_errors(body):
                sent_as = coding(accept_encoding, len(body))
                # a large answer sent plain still depends on Accept-Encoding; a coded one gets
                # the Vary from the compression middleware
                vary = VARY + b", " + ENCODING if len(body) >= MIN_BYTES and not sent_as else VARY
                headers += [
                    (b"etag", etag(*parts, sent_as).encode()),
                    (b"cache-control", control.encode()),
                    (b"vary", vary),
                ]
            elif not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", NO_STORE))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": bytes(body)})
            return
        await send(message)

    await app(scope, receive, capture)


def _has_errors(body: bytearray) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return True
    return not isinstance(answer, dict) or "errors" in answer
