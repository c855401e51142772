"""``ledger restore``: an export written back into an empty ledger, identical to the byte.

Same positions, stream versions, ``recorded_at`` and hashes: the restored ledger has the same
head as the one exported. The append path cannot do this (it dates events by the database
clock and chains them afresh), so restore writes the rows with COPY in one transaction, with
the chain-check trigger off for that transaction only, after checking in Python every link of
the file's chain as it streams by. Any break, bad line or non-empty ledger refuses the whole
restore: the transaction rolls back and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import psycopg
from sqlalchemy import Engine

from ..domain.chain import ChainVerifier, Digest
from ..domain.errors import LedgerError, ValidationError
from ..domain.event_data import validate_data
from ..domain.jsonl import parse_recorded
from ..store.event_store import APPENDED_CHANNEL, COPY_COLUMNS, copy_line


class RestoreRefused(LedgerError):
    """The file cannot be restored as it is, or not into this database."""


def restore_lines(
    owner_engine: Engine,
    lines: Iterable[str | bytes],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> Digest:
    """Write an export into the empty events table; the restored head, or ``RestoreRefused``.

    Needs the role that owns the events table (it turns the chain-check trigger off inside
    its transaction); the service's own role cannot.
    """
    verifier = ChainVerifier()
    pooled = owner_engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert conn is not None
        with conn.transaction():
            try:
                conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                conn.execute("ALTER TABLE events DISABLE TRIGGER events_chain_check")
            except psycopg.errors.InsufficientPrivilege as exc:
                raise RestoreRefused(
                    "restore needs the role that owns the events table (set "
                    f"LEDGER_OWNER_DATABASE_URL): {str(exc).splitlines()[0]}"
                ) from None
            present = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            if present:
                raise RestoreRefused(
                    f"restore needs an empty ledger; this one holds {present:,} events "
                    "(restore into a new database)"
                )
            with conn.cursor().copy(f"COPY events ({COPY_COLUMNS}) FROM STDIN") as copy:
                for number, text in enumerate(lines, start=1):
                    if not text.strip():
                        continue
                    try:
                        event = parse_recorded(text, number)
                        validate_data(event.type, event.data, event.stream)
                    except ValidationError as exc:
                        raise RestoreRefused(f"line {number}: {exc}") from None
                    broken = verifier.feed(event)
                    if broken is not None:
                        raise RestoreRefused(
                            f"line {number}: the file's hash chain does not verify: {broken}"
                        )
                    copy.write(copy_line(event))
                    if on_progress is not None and verifier.position % 1000 == 0:
                        on_progress(verifier.position)
            conn.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_chain_check")
            conn.execute(f"NOTIFY {APPENDED_CHANNEL}")  # a running projector catches up
        return Digest(verifier.position, verifier.hash)
    finally:
        pooled.close()
