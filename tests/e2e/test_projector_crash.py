"""A projector killed mid-way loses nothing: its checkpoint commits with its writes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ledger.projections.digest import digest
from ledger.projections.projector import Projector
from ledger.projections.rebuild import rebuild
from ledger.store import EventStore
from tests.conftest import APP_ROLE, TestDatabase
from tests.e2e.processes import LEDGER, clean_env
from tests.factories import fill


def checkpoint(projector: Projector) -> int:
    return projector.status().checkpoint


def test_a_projector_killed_while_catching_up_resumes_to_what_a_rebuild_makes(
    database: TestDatabase, store: EventStore
) -> None:
    fill(store, entities=40, valuations=100, deals=200)
    head = store.head().position
    projector = Projector(database.app_engine, store)
    process = subprocess.Popen(
        [LEDGER, "projections", "run", "--batch-size", "7"],
        env=clean_env(LEDGER_DATABASE_URL=database.libpq_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while checkpoint(projector) < head // 4 and process.poll() is None:
            assert time.monotonic() < deadline, "the projector made no progress"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
    killed_at = checkpoint(projector)
    assert 0 < killed_at < head

    # The killed session's lock goes once its server process notices; then we resume.
    deadline = time.monotonic() + 30
    while projector.run_once() is None:
        assert time.monotonic() < deadline, "the killed projector's lock was never released"
        time.sleep(0.01)
    assert projector.status().lag == 0

    resumed = digest(database.app_engine)
    rebuild(database.owner_engine, app_role=APP_ROLE)
    assert digest(database.app_engine) == resumed
