"""How the core's errors reach a GraphQL client: one table, applied once, to every response.

Resolvers do not catch: a query function or a loader raises the core's typed error
(``ledger.domain.errors``); ``context.run``, the one door from a resolver into the core, turns
it into a ``GraphQLError`` through ``graphql_error``, and a resolver's own argument check
raises ``refuse(field, reason)``, the same table. ``LedgerErrors`` -- a schema extension that
sees every error of a response -- applies it to anything that got past, and gives
graphql-core's own refusals of argument values the same shape. The shape clients rely on: ``extensions.code`` always, ``extensions.field`` (the
argument as the API spells it) whenever the error names one. Input PostgreSQL cannot take
arrives as the store's ``InvalidInput``: the reason, no SQL. Mutations answer the expected
refusals as typed results instead (``results.py``); this table is for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from ledger.domain.errors import (
    DatabaseUnavailable,
    DuplicateEvent,
    Forbidden,
    LedgerError,
    NotFound,
    NotYetKnown,
    ValidationError,
    VersionConflict,
)
from ledger.store.driver_errors import translation

BAD_USER_INPUT = "BAD_USER_INPUT"


def api_field(field: str) -> str:
    """A domain field path as the API's arguments name it: ``events[0].data.legs[1].payee``
    and ``data.legs[1].payee`` become ``legs[1].payee``; snake_case becomes camelCase."""
    field = re.sub(r"^events\[\d+\]\.", "", field)
    field = re.sub(r"^data\.", "", field)
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)


# core error type -> extensions.code; the first match wins (subclasses before bases).
CODES: tuple[tuple[type[LedgerError], str], ...] = (
    (ValidationError, BAD_USER_INPUT),
    (DuplicateEvent, BAD_USER_INPUT),
    (VersionConflict, "CONFLICT"),
    (NotFound, "NOT_FOUND"),
    (NotYetKnown, "NOT_YET_KNOWN"),
    (Forbidden, "FORBIDDEN"),
    (DatabaseUnavailable, "UNAVAILABLE"),
    (LedgerError, "LEDGER_ERROR"),
)


def code_of(exc: LedgerError) -> str:
    return next(code for kind, code in CODES if isinstance(exc, kind))


def extensions_of(exc: LedgerError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code_of(exc)}
    if isinstance(exc, NotYetKnown):  # what was waited for, and how far the ledger got
        out["position"], out["reached"] = exc.position, exc.reached
    field = getattr(exc, "field", None)
    if isinstance(exc, DuplicateEvent):
        field = "event_id"
    if field:
        out["field"] = api_field(field)
    return out


def message_of(exc: LedgerError) -> str:
    """The message: a field-named refusal reads "first must be between 1 and 500"."""
    if isinstance(exc, ValidationError) and exc.field:
        return f"{api_field(exc.field)} {exc.reason}"
    return str(exc)


def graphql_error(exc: LedgerError, like: GraphQLError | None = None) -> GraphQLError:
    """The GraphQL error for a core error, at the place ``like`` had in the response."""
    return GraphQLError(
        message_of(exc),
        nodes=like.nodes if like else None,
        path=like.path if like else None,
        original_error=exc,
        extensions=extensions_of(exc),
    )


def refuse(field: str, reason: str) -> GraphQLError:
    """A resolver's own refusal of an argument, in the table's shape."""
    return graphql_error(ValidationError(field, reason))


def _told(error: GraphQLError) -> GraphQLError:
    cause = error.original_error
    if cause is not None and not isinstance(cause, LedgerError):
        cause = translation(cause) or cause  # a driver error that got past the core's door
    return graphql_error(cause, error) if isinstance(cause, LedgerError) else error


class LedgerErrors(SchemaExtension):
    """Apply the table to every error of a response (queries, mutations, subscriptions), and
    give graphql-core's own refusals of an argument value -- a literal or a variable its
    scalar or enum refused -- the same shape, naming the argument."""

    def on_validate(self) -> Iterator[None]:
        yield
        errors = self.execution_context.pre_execution_errors
        if errors:  # the list the response is made of: changed in place
            errors[:] = [self._shaped(error) for error in errors]

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [self._shaped(_told(error)) for error in result.errors]

    def _shaped(self, error: GraphQLError) -> GraphQLError:
        if error.extensions and "code" in error.extensions:
            return error
        field = _argument_of(error, self.execution_context.graphql_document)
        code = BAD_USER_INPUT if field else "GRAPHQL_VALIDATION_FAILED"
        extensions = {**(error.extensions or {}), "code": code}
        if field:
            extensions["field"] = field
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            path=error.path,
            original_error=error.original_error,
            extensions=extensions,
        )


def _argument_of(error: GraphQLError, document: DocumentNode | None) -> str | None:
    """The argument (``source.url`` for a field of an input object) whose value the error is
    about: the one whose text holds the error's node, or that passes the refused variable."""
    if document is None or not error.nodes:
        return None
    node = error.nodes[0]
    variable = node.variable.name.value if isinstance(node, VariableDefinitionNode) else None
    if variable is None and node.loc is None:
        return None
    found: list[str] = []
    path: list[str] = []

    class Finder(Visitor):
        def enter_argument(self, arg: ArgumentNode, *_: object) -> None:
            path.append(arg.name.value)
            self._check(arg)

        def leave_argument(self, *_: object) -> None:
            path.pop()

        def enter_object_field(self, part: ObjectFieldNode, *_: object) -> None:
            path.append(part.name.value)
            self._check(part)

        def leave_object_field(self, *_: object) -> None:
            path.pop()

        def _check(self, place: ArgumentNode | ObjectFieldNode) -> None:
            value = place.value
            if variable is not None:
                if isinstance(value, VariableNode) and value.name.value == variable:
                    found.append(".".join(path))
            elif value.loc and node.loc and value.loc.start <= node.loc.start < value.loc.end:
                found.append(".".join(path))

    visit(document, Finder())
    return found[-1] if found else None  # the innermost place that holds it


NUL = "\x00"


class RefuseNul(SchemaExtension):
    """Refuse an operation with a NUL character in any string it carries, before it runs.

    GraphQL strings may hold "\\u0000"; PostgreSQL text may not. Caught here, for literals
    and variables alike, the answer is one clear error naming the argument instead of a
    database error (and its traceback in the log) from whichever resolver met it first."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        field = _variable_with_nul(context.variables) or _literal_with_nul(context.graphql_document)
        if field is not None:
            refusal = ValidationError(field, "may not contain NUL (\\u0000) characters")
            context.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        f"text arguments may not contain NUL (\\u0000) characters ({field})",
                        extensions=extensions_of(refusal),
                    )
                ],
            )
        yield


def _variable_with_nul(value: object, name: str = "") -> str | None:
    """The variable (or its innermost named part) whose text holds a NUL, if any."""
    if isinstance(value, str):
        return name if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return str(key)
            if (found := _variable_with_nul(item, str(key))) is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for item in value:
            if (found := _variable_with_nul(item, name)) is not None:
                return found
    return None


def _literal_with_nul(document: DocumentNode | None) -> str | None:
    if document is None:
        return None
    found: list[str] = []

    class Finder(Visitor):
        def enter_argument(self, node: Any, *_: object) -> None:
            found.append(node.name.value)  # innermost named place seen so far

        def enter_object_field(self, node: Any, *_: object) -> None:
            found.append(node.name.value)

        def enter_string_value(self, node: StringValueNode, *_: object) -> Any:
            if NUL in node.value:
                raise _Found(found[-1] if found else "query")

    try:
        visit(document, Finder())
    except _Found as hit:
        return hit.field
    return None


class _Found(Exception):
    def __init__(self, field: str) -> None:
        self.field = field
