"""Who may ask what, as Strawberry permission classes: the rule itself is ``ledger.auth.may``,
shared with ``/export``, so the GraphQL edge and the HTTP edge can never disagree."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from .context import Context

AUDIT_REFUSED = "the raw event log needs an auditor's API key"
WRITE_REFUSED = (
    "recording events needs a writer's API key "
    "(Authorization: Bearer <key>; `ledger keys create --role writer`)"
)


class CanAudit(BasePermission):
    """The raw event log (``events``, ``eventRecorded``): open locally, auditors in production."""

    message = AUDIT_REFUSED
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - Strawberry's class attribute

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        context: Context = info.context
        return context.may("audit")


def may_write(context: Context) -> bool:
    """Mutations answer a refusal as a typed ``Forbidden`` result (``results.py``), not an
    error, so their check is this predicate rather than a permission class."""
    return context.may("write")
