"""``ledger relay``: publish the log to a NATS JetStream stream, message sequence = position."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

import click
import structlog

from ..runtime import Ledger
from . import err, fail, with_ledger

PROGRESS_EVERY_SECONDS = 1.0


@click.command()
@click.option(
    "--nats-url",
    metavar="URL",
    help="NATS server(s) to publish to, e.g. nats://127.0.0.1:4222 [LEDGER_NATS_URL].",
)
@click.option(
    "--jetstream",
    "jetstream",
    default="LEDGER",
    show_default=True,
    help="The JetStream stream to publish to, created if missing.",
)
@click.option(
    "--subject-prefix",
    default="ledger",
    show_default=True,
    help="Each event goes to the subject PREFIX.<event type>.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    default=1000,
    show_default=True,
    help="Events published before their acks are awaited, when behind the head.",
)
@with_ledger
def relay(
    ledger: Ledger, nats_url: str | None, jetstream: str, subject_prefix: str, batch_size: int
) -> None:
    """Publish every event of the log to NATS JetStream and follow the log, until stopped.

    Message n of the stream is the event at position n (subject PREFIX.<type>, header
    Nats-Msg-Id = event id, payload as `ledger export` writes it). On start the relay resumes
    after the stream's last message, and refuses a stream that does not match the log.
    SIGINT or SIGTERM stops it once the batch in flight is acknowledged.
    """
    from ..relay import Progress, Relay
    from ..store.engine import listen_url

    url = nats_url or ledger.settings.nats_url
    if not url:
        fail("no NATS server named: pass --nats-url or set LEDGER_NATS_URL", 2)
        return
    level = getattr(logging, ledger.settings.log_level.upper())
    structlog.configure(  # warnings (a retried connection) on stderr, beside the progress
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    printed = 0.0

    def progress(at: Progress) -> None:
        nonlocal printed
        now = time.monotonic()
        if now - printed >= PROGRESS_EVERY_SECONDS or at.position == at.head:
            printed = now
            err.print(
                f"relayed position {at.position:,} of {at.head:,} "
                f"({at.events_per_second:,.0f} events/s)",
                highlight=False,
            )

    def following(position: int) -> None:
        err.print(
            f"relay: JetStream stream {jetstream} is at position {position:,}; following the log",
            highlight=False,
        )

    publisher = Relay(
        ledger.store,
        listen_url(ledger.engine),
        url,
        jetstream=jetstream,
        subject_prefix=subject_prefix,
        batch_size=batch_size,
        on_progress=progress,
        on_following=following,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, publisher.stop)
        await publisher.run()

    asyncio.run(run())
    err.print(f"relay stopped at position {publisher.position:,}", highlight=False)


COMMANDS = (relay,)
