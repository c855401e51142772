"""``ledger serve``: the web app's command, added to the ``ledger`` group as a plugin.

``pyproject.toml`` registers it in the ``ledger.commands`` entry point group, which
``ledger.cli`` reads; so the core's CLI offers ``serve`` without ever importing ``api``.
Importing this module is cheap (uvicorn and the app are imported when the command runs), as
every ``ledger`` command imports it.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from typing import Any

import click

from ledger.cli import err, with_ledger
from ledger.domain.errors import ValidationError
from ledger.runtime import Ledger
from ledger.store.engine import display_url


@click.command()
@click.option("--host", default=None, help="Address to listen on [LEDGER_HOST, 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port to listen on [LEDGER_PORT, 8000].")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port (one database, one projector among them).",
)
@with_ledger
def serve(ledger: Ledger, host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP service (GraphQL, /health, /ready, /metrics) until interrupted.

    SIGTERM or Ctrl-C shuts it down gracefully: requests in flight are answered (for up to
    10 s), then the projector and the embedded PostgreSQL stop.
    """
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    settings = ledger.settings
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    _refuse_if_taken(bind_host, bind_port)
    where = (
        "embedded PostgreSQL in " + str(settings.data_dir)
        if settings.embedded
        else ("PostgreSQL at " + display_url(ledger.engine))
    )
    if settings.should_seed_on_start:
        from ledger.transfer.seed import load_seed

        report = load_seed(ledger.store, owner_engine=ledger.owner_engine)
        if report.written:
            # projected before the first request, so the first query sees the deal web
            ledger.projector().run_once()
            err.print(
                f"loaded the AI deal web: {report.written} events (docs/dataset.md)",
                highlight=False,
            )
        for refused in report.refused:
            err.print(f"[yellow]seed line refused[/] {refused}", highlight=False)
    err.print(
        f"deal ledger on http://{bind_host}:{bind_port} ({where}, "
        f"head {ledger.store.head().digest}, {workers} worker{'s' if workers > 1 else ''})",
        highlight=False,
    )
    configure_logging(settings.log_level)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal; this
    # handler turns that into a normal exit so the embedded PostgreSQL is stopped cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_normally)
    # Closing the terminal (SIGHUP) shuts down as gracefully as SIGTERM, unless the hangup is
    # ignored (nohup): the embedded PostgreSQL stops with the last process using it.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _as_sigterm)
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_config": None,  # configure_logging's JSON lines
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        uvicorn.run(create_app(ledger), **options)
        return
    from api.workers import run_workers

    run_workers(ledger, workers, **options)


def _refuse_if_taken(host: str, port: int) -> None:
    """A clear refusal, before the banner, when another process has the port (uvicorn would
    log a JSON line about errno 98 and exit)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # uvicorn names a bad host itself
    for family, kind, proto, _, address in infos[:1]:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ValidationError(
                        "--port", f"port {port} is in use; use --port (or LEDGER_PORT)"
                    ) from None


def _as_sigterm(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown, then _exit_normally


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)
