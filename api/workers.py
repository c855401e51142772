"""``ledger serve --workers N``: N server processes on one socket, one database among them.

uvicorn spawns each worker afresh and hands it the app factory; here that factory is a
``functools.partial`` of ``app_for_worker`` over the parent's ``Ledger.shared_settings()``,
pickled into the child. So a worker is configured by the very ``Settings`` object the parent
holds, not by environment variables the parent rewrote.

The one exception is prometheus_client's own switch to multiprocess mode, which that library
reads from ``PROMETHEUS_MULTIPROC_DIR`` when its metrics are created: the worker sets it in
its own process, before the web app (and prometheus_client) is first imported there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from ledger.runtime import Ledger, open_ledger
from ledger.settings import Settings

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def app_for_worker(settings: Settings, metrics_dir: str) -> Any:
    """The app of one worker: it opens the database the parent started, migrated and seeded."""
    os.environ[MULTIPROC_VARIABLE] = metrics_dir  # prometheus_client's switch, see above

    from api.app import create_app
    from api.observability import configure_logging

    configure_logging(settings.log_level)
    stack = ExitStack()
    ledger = stack.enter_context(open_ledger(settings))
    return create_app(ledger, metrics_dir=Path(metrics_dir), on_shutdown=[stack.close])


def run_workers(ledger: Ledger, workers: int, **options: Any) -> None:
    """Serve with ``workers`` processes until interrupted; their metrics are summed in a
    directory that lives as long as they do."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="ledger-metrics-")
    try:
        config = uvicorn.Config(
            partial(app_for_worker, ledger.shared_settings(), metrics_dir),
            factory=True,
            workers=workers,
            **options,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
