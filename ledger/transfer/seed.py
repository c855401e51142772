"""The bundled data set: the AI deal web of ``ledger/data/`` (see docs/dataset.md).

Loaded through the importer, so it is validated like any other file, and idempotent: its
events have fixed ids, and a second load finds them recorded and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..store.event_store import EventStore
from .importer import ImportReport, import_lines

SEED_FILE = "ai-deal-web.jsonl"


def seed_path() -> Path:
    return Path(str(resources.files("ledger") / "data" / SEED_FILE))


def load_seed(
    store: EventStore, *, on_progress: Callable[[int, int], None] | None = None
) -> ImportReport:
    """Append the data set's events that are not yet recorded."""
    with seed_path().open("rb") as lines:
        return import_lines(store, lines, on_progress=on_progress)
