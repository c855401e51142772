"""Errors the database raises about an argument, told as what they are.

A value PostgreSQL cannot take -- a NUL character in a text, say -- fails deep inside a
DataLoader or a query function, as a driver exception whose message quotes the SQL. This
extension turns any such error of a response into a plain ``BAD_USER_INPUT`` error that names
the reason and nothing of the statement, wherever in the resolver tree it happened.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, ExecutionResult, GraphQLError, StringValueNode, Visitor, visit
from sqlalchemy.exc import DataError
from strawberry.extensions import SchemaExtension


class DatabaseInputErrors(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [_told(error) for error in result.errors]


def bad_database_input(cause: DataError, error: GraphQLError | None = None) -> GraphQLError:
    """The error a client sees for a value PostgreSQL refused: the reason, no SQL."""
    reason = str(cause.orig).splitlines()[0] if cause.orig is not None else "invalid input"
    return GraphQLError(
        f"invalid argument: {reason}",
        nodes=error.nodes if error else None,
        path=error.path if error else None,
        extensions={"code": "BAD_USER_INPUT"},
    )


def _told(error: GraphQLError) -> GraphQLError:
    cause = error.original_error
    return bad_database_input(cause, error) if isinstance(cause, DataError) else error


NUL = "\x00"


class RefuseNul(SchemaExtension):
    """Refuse an operation with a NUL character in any string it carries, before it runs.

    GraphQL strings may hold "\\u0000"; PostgreSQL text may not. Caught here, for literals
    and variables alike, the answer is one clear error instead of a database error (and its
    traceback in the log) from whichever resolver met it first."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if _has_nul(context.variables) or _literal_has_nul(context.graphql_document):
            context.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "text arguments may not contain NUL (\\u0000) characters",
                        extensions={"code": "BAD_USER_INPUT"},
                    )
                ],
            )
        yield


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _literal_has_nul(document: DocumentNode | None) -> bool:
    if document is None:
        return False
    found = False

    class Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: object) -> None:
            nonlocal found
            found = found or NUL in node.value

    visit(document, Finder())
    return found
