"""Moving events in and out: ``import``, ``seed``, ``export`` and ``restore``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..runtime import Ledger
from . import INSTANT, err, progress, with_ledger

MAX_REFUSED_SHOWN = 50


def _print_import(report: Any, what: str) -> None:
    written = f"{report.written:,} event{'s' if report.written != 1 else ''}"
    where = (
        f" (positions {report.first_position:,}–{report.last_position:,})" if report.written else ""
    )
    click.echo(
        f"{what}: {written} written into {report.streams_written:,} "
        f"stream{'s' if report.streams_written != 1 else ''}{where}; "
        f"{report.already_recorded:,} already recorded; {len(report.refused):,} refused "
        f"of {report.lines:,} lines"
    )
    for refused in report.refused[:MAX_REFUSED_SHOWN]:
        err.print(f"[red]refused[/] {refused}", highlight=False, soft_wrap=True)
    if len(report.refused) > MAX_REFUSED_SHOWN:
        err.print(f"… and {len(report.refused) - MAX_REFUSED_SHOWN:,} more refused lines")


@click.command("import")
@click.argument("file", type=click.File("rb"))
@with_ledger
def import_(ledger: Ledger, file: Any) -> None:
    """Append the events of a JSON Lines FILE ('-' for stdin), validated like commands.

    All or nothing per stream: a bad line refuses its stream, reported with its line number.
    Events already recorded (same event_id and content) are skipped, so re-importing is safe.
    """
    from ..transfer.importer import import_lines

    bar, advance = progress(0, "importing")
    with bar:
        report = import_lines(ledger.store, file, on_progress=advance)
    _print_import(report, "import")
    if not report.ok:
        sys.exit(1)


@click.command()
@with_ledger
def seed(ledger: Ledger) -> None:
    """Load the bundled AI deal web (docs/dataset.md); a second load writes nothing."""
    from ..transfer.seed import load_seed

    report = load_seed(ledger.store, owner_engine=ledger.owner_engine)
    _print_import(report, "seed")
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option("-o", "--output", type=click.File("wb"), default="-", help="File to write [stdout].")
@click.option("--from-position", type=click.IntRange(min=1), help="First position to export.")
@click.option("--to-position", type=click.IntRange(min=1), help="Last position to export.")
@click.option("--recorded-from", type=INSTANT, help="Only events recorded at or after this time.")
@click.option("--recorded-to", type=INSTANT, help="Only events recorded at or before this time.")
@with_ledger
def export(
    ledger: Ledger,
    output: Any,
    from_position: int | None,
    to_position: int | None,
    recorded_from: Any,
    recorded_to: Any,
) -> None:
    """Write the ledger (or a range) as JSON Lines, with positions, recorded_at and hashes.

    A whole export is what `ledger restore` takes back into an empty database.
    """
    from ..transfer.exporter import export_lines

    bar, advance = progress(ledger.store.head().position, "exporting")
    count = 0
    with bar:
        for line in export_lines(
            ledger.store,
            from_position=from_position,
            to_position=to_position,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            on_progress=advance,
        ):
            output.write(line)
            count += 1
    output.flush()
    err.print(f"exported {count:,} events", highlight=False)


@click.command()
@click.argument("file", type=click.File("rb"))
@with_ledger
def restore(ledger: Ledger, file: Any) -> None:
    """Rebuild an identical ledger from an export FILE ('-' for stdin) in an empty database.

    Same positions, times and hashes; refused, with nothing written, if the file's chain does
    not verify. Then the read models are brought up to date.
    """
    from ..transfer.restore import restore_lines

    bar, advance = progress(0, "restoring")
    with bar:
        digest = restore_lines(ledger.owner_engine, file, on_progress=lambda n: advance(n, n))
    ledger.projector().run_once()
    click.echo(f"restored {digest.position:,} events; head {digest}")


COMMANDS = (import_, seed, export, restore)
