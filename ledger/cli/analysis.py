"""The analyst's and the auditor's questions: ``report`` (from the read models) and
``replay`` (from the raw log alone); their rendering lives in ``ledger.reporting``."""

from __future__ import annotations

from typing import Any

import click

from ..runtime import Ledger
from . import INSTANT, err, fail, progress, with_ledger

BASIS = click.Choice(["HEADLINE", "COMMITTED", "FUNDED"], case_sensitive=False)


@click.command()
@click.option("--as-of", type=INSTANT, required=True, help="Valid time: the world on this day.")
@click.option(
    "--known-at", type=INSTANT, help="Knowledge time: what the ledger knew then [default: now]."
)
@click.option("--since", type=INSTANT, help="Also show how exposures changed since this asOf.")
@click.option(
    "--at-position",
    type=click.IntRange(min=0),
    help="Answer as of the log's prefix 1..P (an auditor's digest); with --known-at, both apply.",
)
@click.option(
    "--basis",
    type=BASIS,
    default="HEADLINE",
    show_default=True,
    help="Which amount of a leg counts.",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=15, show_default=True, help="Rows per table."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--plot", type=click.Path(dir_okay=False, writable=True), help="Draw the graph to this PNG."
)
@with_ledger
def report(
    ledger: Ledger,
    as_of: Any,
    known_at: Any,
    since: Any,
    at_position: int | None,
    basis: str,
    top: int,
    output_format: str,
    plot: str | None,
) -> None:
    """The analyst's report: largest exposures, circular flows, each entity's commitment ratio
    and customer concentration, and what changed since a second date."""
    from pathlib import Path

    from rich.console import Console

    from .. import queries, reporting
    from ..domain.report import build

    if plot:
        from ..plot import require

        require()  # before any work: the plain install has no matplotlib
    ledger.projector().run_once()  # answer from up-to-date read models
    basis = basis.upper()
    # One snapshot, one basis (the log's head now, or --at-position) for both graphs.
    snapshot = queries.Snapshot(ledger.engine, at_least=at_position or 0)
    try:
        graph = queries.graph(snapshot, as_of, known_at, basis, at_position=at_position)
        earlier = (
            queries.graph(snapshot, since, known_at, basis, at_position=at_position)
            if since
            else None
        )
    finally:
        snapshot.close()
    result = build(graph, top=top, earlier=earlier)
    if output_format == "json":
        click.echo(reporting.json_bytes(result).decode())
    elif output_format == "markdown":
        click.echo(reporting.markdown(result))
    else:
        reporting.print_tables(result, Console())
    if plot:
        from ..plot import plot as draw

        title = f"Exposure graph, asOf {as_of.date().isoformat()} ({basis.lower()})"
        draw(graph, Path(plot), title)
        err.print(f"wrote {plot}", highlight=False)


@click.command()
@click.option("--as-of", type=INSTANT, required=True, help="Valid time: the world on this day.")
@click.option("--known-at", type=INSTANT, help="Knowledge time [default: now].")
@click.option(
    "--until-position",
    type=click.IntRange(min=1),
    help="Replay the log's prefix 1..P (an auditor's digest); with --known-at, both apply; "
    "--verify asks the read models at the same position (atPosition).",
)
@click.option("--basis", type=BASIS, default="HEADLINE", show_default=True)
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Compare with the live read models field by field; exit 1 on any difference.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
@with_ledger
def replay(
    ledger: Ledger,
    as_of: Any,
    known_at: Any,
    until_position: int | None,
    basis: str,
    check: bool,
    as_json: bool,
) -> None:
    """Replay the raw events from position 1 and print the exposure graph they yield at
    (as-of, known-at) -- the auditor's answer, independent of the read models."""
    import datetime as dt

    from rich.console import Console

    from .. import audit, reporting

    basis = basis.upper()
    known_at = known_at or dt.datetime.now(dt.UTC)
    head = ledger.store.head().position
    if until_position is not None and until_position > head:
        fail(
            f"--until-position {until_position}: the ledger holds {head} event"
            f"{'s' if head != 1 else ''} (positions 1..{head})",
            2,
        )
    bar, advance = progress(until_position or head, "replaying")
    with bar:
        result = audit.replay(
            ledger.store,
            as_of,
            known_at,
            basis,
            until_position=until_position,
            on_progress=advance,
        )
    if as_json:
        click.echo(reporting.replay_json(result, as_of, known_at, basis))
    else:
        reporting.print_replay(result, as_of, known_at, Console())
    if check:
        ledger.projector().run_once()
        found = audit.verify(ledger.engine, result, basis, at_position=until_position)
        for line in found:
            err.print(f"[red]differs[/] {line}", highlight=False, soft_wrap=True)
        if found:
            fail(f"the read models differ from the replay in {len(found)} places")
        err.print("verified: the read models give the same graph, field by field", highlight=False)


COMMANDS = (report, replay)
