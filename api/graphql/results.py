"""What a mutation answers: the recorded event, or the refusal as a typed result.

Strawberry's "expected errors in the schema" pattern: a client switches on ``__typename``
instead of parsing messages. ``result_of`` is the one mapping from the core's refusals to
these types, as ``errors.py`` is for everything that is not a mutation's expected refusal.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from ledger.domain.errors import (
    DuplicateEvent,
    Forbidden,
    LedgerError,
    NotFound,
    ValidationError,
    VersionConflict,
)

from .errors import api_field
from .types import Event


@strawberry.type
class Recorded:
    event: Event


@strawberry.type(name="ValidationError")
class ValidationProblem:
    field: str
    message: str


@strawberry.type(name="VersionConflict")
class ConflictProblem:
    stream: str
    expected_version: int
    current_version: int
    message: str


@strawberry.type(name="NotFound")
class NotFoundProblem:
    message: str


@strawberry.type(name="Forbidden")
class ForbiddenProblem:
    message: str


RecordResult = Annotated[
    Recorded | ValidationProblem | ConflictProblem | NotFoundProblem | ForbiddenProblem,
    strawberry.union("RecordResult"),
]

Problem = ValidationProblem | ConflictProblem | NotFoundProblem | ForbiddenProblem


def result_of(exc: LedgerError) -> Problem:
    """The typed result of a refusal; an error that is no refusal is raised again."""
    if isinstance(exc, ValidationError):
        field = api_field(exc.field)
        return ValidationProblem(field=field, message=f"{field}: {exc.reason}")
    if isinstance(exc, VersionConflict):
        return ConflictProblem(
            stream=exc.stream,
            expected_version=exc.expected,
            current_version=exc.current,
            message=str(exc),
        )
    if isinstance(exc, DuplicateEvent):
        return ValidationProblem(field="eventId", message=str(exc))
    if isinstance(exc, NotFound):
        return NotFoundProblem(message=str(exc))
    if isinstance(exc, Forbidden):
        return ForbiddenProblem(message=str(exc))
    raise exc
