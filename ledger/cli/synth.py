"""``ledger synth``: a random, plausible deal web appended for scale tests."""

from __future__ import annotations

import click

from ..domain.errors import ValidationError
from ..runtime import Ledger
from . import fail, progress, with_ledger


@click.command()
@click.option("--events", type=click.IntRange(min=1), required=True, help="About how many events.")
@click.option("--entities", type=click.IntRange(min=2), required=True, help="How many entities.")
@click.option(
    "--deals", type=click.IntRange(min=0), default=None, help="How many deals [default: events/10]."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same history.")
@click.option(
    "--into-nonempty",
    is_flag=True,
    help="Append even though the ledger already holds events (they mix with the synthetic ones).",
)
@with_ledger
def synth(
    ledger: Ledger,
    events: int,
    entities: int,
    deals: int | None,
    seed: int,
    into_nonempty: bool,
) -> None:
    """Append a random, plausible deal web for scale tests (power-law deal counts,
    amendments, tranches, back-dated corrections, retractions). Refused on a ledger that
    already holds events unless --into-nonempty: synthetic events can never be removed."""
    from ..synth import synth as make

    held = ledger.store.head().position
    if held and not into_nonempty:
        raise ValidationError(
            "--into-nonempty",
            f"this ledger already holds {held:,} events, and synthetic ones can never be "
            "removed from it; use an empty ledger (a new LEDGER_DATA_DIR or database) or pass "
            "--into-nonempty",
        )

    bar, advance = progress(events, "appending")
    try:
        with bar:
            result = make(
                ledger.store,
                events=events,
                entities=entities,
                deals=deals,
                seed=seed,
                progress=lambda done: advance(done, max(events, done)),
            )
    except ValidationError as exc:
        fail(str(exc), 2)
    click.echo(
        f"appended {result.events:,} events: {result.entities:,} entities, "
        f"{result.deals:,} deals; head {ledger.store.head().digest}"
    )


COMMANDS = (synth,)
