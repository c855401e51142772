"""``ledger projections``: the read models' status, one catch-up run, a full rebuild."""

from __future__ import annotations

import json

import click

from ..runtime import Ledger
from . import fail, progress, with_ledger


@click.group()
def projections() -> None:
    """The read models kept from the event log."""


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@with_ledger
def projections_status(ledger: Ledger, as_json: bool) -> None:
    """Show each projection's checkpoint, the ledger's head and the lag between them."""

    status = ledger.projector().status()
    if as_json:
        fields = {"name": status.name, "checkpoint": status.checkpoint, "head": status.head}
        click.echo(json.dumps(fields | {"lag": status.lag}))
    else:
        click.echo(
            f"{status.name}: checkpoint {status.checkpoint}, head {status.head}, "
            f"lag {status.lag} event{'s' if status.lag != 1 else ''}"
        )


@projections.command("run")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Events applied per transaction (each commits with its checkpoint).",
)
@with_ledger
def projections_run(ledger: Ledger, batch_size: int) -> None:
    """Apply every event after the checkpoint to the read models, once, and stop."""

    applied = ledger.projector(batch_size=batch_size).run_once()
    if applied is None:
        fail("another projector holds the lock; it keeps the read models up to date")
    click.echo(f"applied {applied} event{'s' if applied != 1 else ''}")


@projections.command("rebuild")
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Events projected per transaction.",
)
@with_ledger
def projections_rebuild(ledger: Ledger, chunk: int) -> None:
    """Rebuild the read models from position 0 into fresh tables and swap them in.

    Queries keep answering from the current tables until the swap, which is atomic.
    """
    from ..projections.rebuild import RebuildFailed, rebuild

    head = ledger.store.head().position
    bar, advance = progress(head, "rebuilding")
    try:
        with bar:
            result = rebuild(
                ledger.owner_engine,
                app_role=ledger.settings.app_role or None,
                chunk=chunk,
                progress=lambda done, total: advance(done, total),
            )
    except RebuildFailed as exc:
        fail(str(exc))
    click.echo(
        f"rebuilt the read models from {result.events:,} events in {result.seconds:.1f} s "
        f"({result.events_per_second:,.0f} events/s) and swapped them in"
    )


COMMANDS = (projections,)
