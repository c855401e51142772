"""Keep the read models current inside a running service: project whenever events arrive.

Why a thread that listens: an append NOTIFYs ``ledger_appended`` as it commits, so the read
models follow within milliseconds; a cheap check every half second stays as a safety net
(a notification is lost while the listening connection is down). Several processes may each
run one; the projector's lock lets one work at a time.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from ..store.event_store import APPENDED_CHANNEL
from .projector import Projector

log = structlog.get_logger("ledger.projector")


class Follower:
    def __init__(self, projector: Projector, *, poll_seconds: float = 0.5) -> None:
        self.projector = projector
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.caught_up = threading.Event()  # set after each pass that left no lag

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self._run, name="ledger-projector", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            try:  # wake the listener now rather than at its next poll
                with self.projector.engine.connect() as conn:
                    conn.exec_driver_sql(f"NOTIFY {APPENDED_CHANNEL}")
                    conn.commit()
            except Exception:
                pass
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen_and_project()
            except Exception as exc:  # the database went away: say so, wait, try again
                log.warning("projector paused", error=str(exc).splitlines()[0])
                self._stop.wait(self.poll_seconds)

    def _listen_and_project(self) -> None:
        pooled = self.projector.engine.raw_connection()
        try:
            conn: Any = pooled.driver_connection
            conn.commit()
            conn.autocommit = True
            conn.execute(f"LISTEN {APPENDED_CHANNEL}")
            while not self._stop.is_set():
                self._project()
                # Wake on the first notification (stop() sends one), or after the poll.
                for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                    pass
        finally:
            pooled.invalidate()  # LISTEN state must not go back into the pool

    def _project(self) -> None:
        applied = self.projector.run_once()
        if applied:
            log.info("projected", events=applied)
        if applied is not None and self.projector.status().lag == 0:
            self.caught_up.set()
