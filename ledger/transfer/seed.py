"""The bundled data set: the AI deal web of ``ledger/data/`` (see docs/dataset.md).

Two files: ``ai-deal-web.jsonl``, the JSON Lines source the curators edit, and
``ai-deal-web.history.jsonl``, the curated ledger's recording history derived from it
(``ledger.transfer.history``). Into an empty ledger, given the owner role, the history is
restored: the ledger then has the curators' head digest (README) and their ``recorded_at``, so
``knownAt`` shows what the curated ledger said on a day. Into a ledger that holds events (or
without the owner role) the source is imported: its events have fixed ids, so only those not
yet recorded are appended, and a second load writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import orjson
from sqlalchemy import Engine

from ..store.event_store import EventStore
from .importer import ImportReport, import_lines

SEED_FILE = "ai-deal-web.jsonl"
HISTORY_FILE = "ai-deal-web.history.jsonl"


def seed_path() -> Path:
    return Path(str(resources.files("ledger") / "data" / SEED_FILE))


def history_path() -> Path:
    return Path(str(resources.files("ledger") / "data" / HISTORY_FILE))


def load_seed(
    store: EventStore,
    *,
    owner_engine: Engine | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Restore the curated history into an empty ledger (with ``owner_engine``), else append
    the data set's events that are not yet recorded."""
    if owner_engine is not None and store.head().position == 0:
        from .restore import RestoreRefused, restore_lines

        try:
            with history_path().open("rb") as lines:
                digest = restore_lines(owner_engine, lines)
        except RestoreRefused:  # e.g. not the table's owner, or a first event in the meantime
            with seed_path().open("rb") as lines:
                return import_lines(store, lines, on_progress=on_progress)
        with history_path().open("rb") as lines:
            streams = {orjson.loads(line)["stream"] for line in lines if line.strip()}
        return ImportReport(
            lines=digest.position,
            written=digest.position,
            streams_written=len(streams),
            first_position=1 if digest.position else None,
            last_position=digest.position or None,
        )
    with seed_path().open("rb") as lines:
        return import_lines(store, lines, on_progress=on_progress)
