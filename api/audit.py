"""GET /export: the raw log as JSON Lines (the format of `ledger export`), for auditors.

The same file `ledger export` writes and `ledger restore` takes back, streamed: positions,
`recorded_at`, hashes, and each event's metadata (who recorded it, the request id). Needs the
role that may read the raw log (`events`): open locally, an auditor's key in production.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.params import Parameter
from litestar.response import Stream

from api.callers import caller
from ledger.auth import may
from ledger.runtime import Ledger
from ledger.transfer.exporter import export_lines

EXPORT_MEDIA_TYPE = "application/x-ndjson"


@get("/export")
async def export(
    state: State,
    headers: dict[str, str],
    from_position: Annotated[int | None, Parameter(query="fromPosition", ge=1)] = None,
    to_position: Annotated[int | None, Parameter(query="toPosition", ge=1)] = None,
) -> Stream:
    ledger: Ledger = state.ledger
    found = await caller(ledger, headers)
    # the rule of `events` and `eventRecorded` (api.graphql.permissions.CanAudit)
    production = ledger.settings.production
    if not may("audit", found.role if found else None, production=production):
        raise PermissionDeniedException("the audit export needs an auditor's API key")
    lines = export_lines(ledger.store, from_position=from_position, to_position=to_position)
    return Stream(
        lines,
        media_type=EXPORT_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="ledger-export.jsonl"'},
    )
