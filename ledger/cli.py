"""The ``ledger`` command: an adapter that maps the core's errors to messages and exit codes.

Exit codes: 0 success, 1 the ledger answered "no" (a broken chain, a missing digest, a
failed operation), 2 the command was used wrongly (bad option or setting).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .domain.chain import Digest
from .domain.errors import LedgerError, ValidationError
from .runtime import Ledger, open_ledger
from .settings import VARIABLES, Settings

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ValidationError as exc:
        fail(f"setting {exc}", 2)
        raise  # unreachable


def with_ledger(func: F) -> F:
    """Open the ledger for the command and turn the core's errors into clear messages."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = settings_from_env()
        try:
            with open_ledger(settings) as ledger:
                return func(ledger, *args, **kwargs)
        except ValidationError as exc:
            fail(str(exc), 2)
        except LedgerError as exc:
            fail(str(exc))
        except Exception as exc:  # an operational failure: say what, not a traceback
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                fail(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")
            raise

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deal-ledger")
def main() -> None:
    """The deal ledger: an immutable, bitemporal record of the AI boom's deal web.

    With no LEDGER_DATABASE_URL every command uses the embedded PostgreSQL in the user's
    data directory, starting it if needed.
    """


@main.command()
@click.option("--host", default=None, help="Address to listen on [LEDGER_HOST, 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port to listen on [LEDGER_PORT, 8000].")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port (one database, one projector among them).",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP service (GraphQL, /health, /ready, /metrics) until interrupted.

    SIGTERM or Ctrl-C shuts it down gracefully: requests in flight are answered (for up to
    10 s), then the projector and the embedded PostgreSQL stop.
    """
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    settings = settings_from_env()

    @with_ledger
    def run(ledger: Ledger) -> None:
        where = (
            "embedded PostgreSQL in " + str(settings.data_dir)
            if settings.embedded
            else ("PostgreSQL at " + ledger.engine.url.render_as_string(hide_password=True))
        )
        if settings.should_seed_on_start:
            from .transfer.seed import load_seed

            report = load_seed(ledger.store)
            if report.written:
                from .read_models.projector import Projector

                # projected before the first request, so the first query sees the deal web
                Projector(ledger.engine, ledger.store).run_once()
                err.print(
                    f"loaded the AI deal web: {report.written} events (docs/dataset.md)",
                    highlight=False,
                )
            for refused in report.refused:
                err.print(f"[yellow]seed line refused[/] {refused}", highlight=False)
        bind_host = host or settings.host
        bind_port = settings.port if port is None else port
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
        with _worker_environment(ledger):
            uvicorn.run("api.app:app_from_env", factory=True, workers=workers, **options)

    run()


@contextmanager
def _worker_environment(ledger: Ledger) -> Iterator[None]:
    """What the workers inherit: this database (already started, migrated and seeded) and a
    shared directory where their metrics are summed."""
    import os
    import shutil
    import tempfile

    metrics_dir = tempfile.mkdtemp(prefix="ledger-metrics-")
    owner = ledger.owner_engine.url.set(drivername="postgresql")
    settings = {
        "LEDGER_DATABASE_URL": owner.render_as_string(hide_password=False)
        if ledger.settings.embedded
        else ledger.settings.database_url,
        "LEDGER_OWNER_DATABASE_URL": owner.render_as_string(hide_password=False),
        "LEDGER_MIGRATE_ON_START": "false",
        "LEDGER_SEED": "false",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update({k: v for k, v in settings.items() if v is not None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


@main.group()
def db() -> None:
    """Manage the database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from .store import migrate

    settings = settings_from_env()
    _with_owner_engine(
        settings, lambda engine: migrate.upgrade(engine, revision, settings.app_role)
    )
    click.echo(f"database at revision {_current(settings)}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes everything, if the ledger is empty)."""
    from .store import migrate

    settings = settings_from_env()
    _with_owner_engine(
        settings, lambda engine: migrate.downgrade(engine, revision, settings.app_role)
    )
    click.echo(f"database at revision {_current(settings) or 'base'}")


@db.command()
def current() -> None:
    """Print the database's schema revision and the newest one this code knows."""
    from .store import migrate

    settings = settings_from_env()
    click.echo(f"current: {_current(settings) or 'base'}")
    click.echo(f"head:    {migrate.head_revision()}")


def _with_owner_engine(settings: Settings, action: Callable[[Any], Any]) -> Any:
    """Run ``action`` on an engine of the schema owner: migrations never run as the app role."""
    from sqlalchemy.exc import DBAPIError

    from .store.embedded import EmbeddedPostgres
    from .store.engine import make_engine

    embedded = EmbeddedPostgres(settings.data_dir).start() if settings.embedded else None
    url = embedded.owner_url if embedded else (settings.owner_database_url or settings.database_url)
    engine = make_engine(url, pool_size=1)  # type: ignore[arg-type]
    try:
        return action(engine)
    except DBAPIError as exc:
        fail(str(exc.orig).strip().splitlines()[0])
    finally:
        engine.dispose()
        if embedded is not None:
            embedded.stop()


def _current(settings: Settings) -> str | None:
    from .store import migrate

    return _with_owner_engine(settings, migrate.current_revision)


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print position, hash and recorded_at as JSON."
)
@with_ledger
def head(ledger: Ledger, as_json: bool) -> None:
    """Print the ledger's digest POSITION:HASH, to keep and verify later."""
    current = ledger.store.head()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "position": current.position,
                    "hash": current.hash,
                    "recorded_at": current.recorded_at.isoformat() if current.recorded_at else None,
                }
            )
        )
    else:
        click.echo(str(current.digest))


def _progress(total: int, label: str = "verifying") -> tuple[Progress, Callable[[int], None]]:
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = progress.add_task(label, total=total)
    return progress, lambda done, total=total: progress.update(task, completed=done, total=total)


@main.command()
@click.option(
    "--digest",
    "digest_text",
    metavar="POSITION:HASH",
    help="Also prove this earlier digest is still in the ledger.",
)
@with_ledger
def verify(ledger: Ledger, digest_text: str | None) -> None:
    """Recompute the hash chain and report the first position where it breaks."""
    from .store.verify import verify as verify_chain

    digest = Digest.parse(digest_text) if digest_text else None
    progress, on_progress = _progress(ledger.store.head().position)
    with progress:
        report = verify_chain(ledger.store, digest, on_progress)
    click.echo(report.describe())
    if not report.ok:
        sys.exit(1)


class InstantType(click.ParamType):
    """An ISO-8601 date or date-time with a timezone (a bare date is its 00:00 UTC)."""

    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from .domain.instants import parse_instant

        if not isinstance(value, str):
            return value
        try:
            return parse_instant(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


INSTANT = InstantType()
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


@main.command("import")
@click.argument("file", type=click.File("rb"))
@with_ledger
def import_(ledger: Ledger, file: Any) -> None:
    """Append the events of a JSON Lines FILE ('-' for stdin), validated like commands.

    All or nothing per stream: a bad line refuses its stream, reported with its line number.
    Events already recorded (same event_id and content) are skipped, so re-importing is safe.
    """
    from .transfer.importer import import_lines

    progress, advance = _progress(0, "importing")
    with progress:
        report = import_lines(ledger.store, file, on_progress=advance)
    _print_import(report, "import")
    if not report.ok:
        sys.exit(1)


@main.command()
@with_ledger
def seed(ledger: Ledger) -> None:
    """Load the bundled AI deal web (docs/dataset.md); a second load writes nothing."""
    from .transfer.seed import load_seed

    report = load_seed(ledger.store)
    _print_import(report, "seed")
    if not report.ok:
        sys.exit(1)


@main.command()
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
    from .transfer.exporter import export_lines

    progress, advance = _progress(ledger.store.head().position, "exporting")
    count = 0
    with progress:
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


@main.command()
@click.argument("file", type=click.File("rb"))
@with_ledger
def restore(ledger: Ledger, file: Any) -> None:
    """Rebuild an identical ledger from an export FILE ('-' for stdin) in an empty database.

    Same positions, times and hashes; refused, with nothing written, if the file's chain does
    not verify. Then the read models are brought up to date.
    """
    from .read_models.projector import Projector
    from .transfer.restore import restore_lines

    progress, advance = _progress(0, "restoring")
    with progress:
        digest = restore_lines(ledger.owner_engine, file, on_progress=lambda n: advance(n, n))
    Projector(ledger.engine, ledger.store).run_once()
    click.echo(f"restored {digest.position:,} events; head {digest}")


@main.command()
@click.option("--as-of", type=INSTANT, required=True, help="Valid time: the world on this day.")
@click.option(
    "--known-at", type=INSTANT, help="Knowledge time: what the ledger knew then [default: now]."
)
@click.option("--since", type=INSTANT, help="Also show how exposures changed since this asOf.")
@click.option(
    "--basis",
    type=click.Choice(["HEADLINE", "COMMITTED", "FUNDED"], case_sensitive=False),
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
    basis: str,
    top: int,
    output_format: str,
    plot: str | None,
) -> None:
    """The analyst's report: largest exposures, circular flows, each entity's commitment ratio
    and customer concentration, and what changed since a second date."""
    import datetime as dt
    from pathlib import Path

    from rich.console import Console

    from . import reporting
    from .domain.report import build
    from .read_models import queries
    from .read_models.projector import Projector

    Projector(ledger.engine, ledger.store).run_once()  # answer from up-to-date read models
    known_at = known_at or dt.datetime.now(dt.UTC)
    basis = basis.upper()
    graph = queries.graph(ledger.engine, as_of, known_at, basis)
    earlier = queries.graph(ledger.engine, since, known_at, basis) if since else None
    result = build(graph, top=top, earlier=earlier)
    if output_format == "json":
        click.echo(reporting.json_bytes(result).decode())
    elif output_format == "markdown":
        click.echo(reporting.markdown(result))
    else:
        reporting.print_tables(result, Console())
    if plot:
        try:
            from .plot import plot as draw
        except ImportError:  # pragma: no cover - the plot extra is not installed
            fail("plotting needs matplotlib and networkx: pip install 'deal-ledger[plot]'")
        title = f"Exposure graph, asOf {as_of.date().isoformat()} ({basis.lower()})"
        draw(graph, Path(plot), title)
        err.print(f"wrote {plot}", highlight=False)


@main.command()
@click.option("--as-of", type=INSTANT, required=True, help="Valid time: the world on this day.")
@click.option("--known-at", type=INSTANT, help="Knowledge time [default: now].")
@click.option(
    "--until-position", type=click.IntRange(min=1), help="Replay exactly the first P events."
)
@click.option(
    "--basis",
    type=click.Choice(["HEADLINE", "COMMITTED", "FUNDED"], case_sensitive=False),
    default="HEADLINE",
    show_default=True,
)
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
    from rich.table import Table

    from . import audit
    from .read_models.projector import Projector
    from .reporting import usd

    basis = basis.upper()
    if until_position is not None and check:
        if known_at is not None:
            fail("--verify with --until-position takes its knownAt from that position", 2)
        known_at = audit.known_at_of(ledger.store, until_position)
    known_at = known_at or dt.datetime.now(dt.UTC)
    progress, advance = _progress(until_position or ledger.store.head().position, "replaying")
    with progress:
        result = audit.replay(
            ledger.store,
            as_of,
            known_at,
            basis,
            until_position=until_position,
            on_progress=advance,
        )
    graph = result.graph
    if as_json:
        click.echo(
            json.dumps(
                {
                    "as_of": as_of.isoformat(),
                    "known_at": known_at.isoformat(),
                    "basis": basis,
                    "events_read": result.events_read,
                    "nodes": {
                        i: {"name": n.name, "valuation_usd": str(n.valuation_usd or "") or None}
                        for i, n in sorted(graph.nodes.items())
                    },
                    "edges": [
                        {
                            "deal_id": e.deal_id,
                            "leg": e.leg,
                            "payer": e.payer,
                            "payee": e.payee,
                            "instrument": e.instrument,
                            "amount_usd": str(e.amount_usd),
                        }
                        for e in sorted(graph.edges, key=lambda e: (e.deal_id, e.leg))
                    ],
                },
                indent=2,
            )
        )
    else:
        console = Console()
        console.print(
            f"replayed {result.events_read:,} events (positions 1–{result.until_position:,}), "
            f"{result.events_kept:,} visible at asOf {as_of.isoformat()}, "
            f"knownAt {known_at.isoformat()}",
            highlight=False,
        )
        nodes = Table("entity", "name", "valuation", title="Nodes", title_justify="left")
        for entity_id, node in sorted(graph.nodes.items()):
            nodes.add_row(entity_id, node.name, usd(node.valuation_usd))
        edges = Table(
            "deal",
            "leg",
            "payer → payee",
            "instrument",
            "amount",
            title="Edges",
            title_justify="left",
        )
        for e in sorted(graph.edges, key=lambda e: (e.deal_id, e.leg)):
            edges.add_row(
                e.deal_id, e.leg, f"{e.payer} → {e.payee}", e.instrument, usd(e.amount_usd)
            )
        console.print(nodes, edges)
    if check:
        Projector(ledger.engine, ledger.store).run_once()
        found = audit.verify(ledger.engine, result, basis)
        for line in found:
            err.print(f"[red]differs[/] {line}", highlight=False, soft_wrap=True)
        if found:
            fail(f"the read models differ from the replay in {len(found)} places")
        err.print("verified: the read models give the same graph, field by field", highlight=False)


@main.command("config")
def show_config() -> None:
    """List the LEDGER_* environment variables and their current values."""
    settings = settings_from_env()
    for name, meaning in VARIABLES.items():
        click.echo(f"{name}\n    {meaning}")
    click.echo(f"\nembedded: {settings.embedded}  data_dir: {settings.data_dir}")


if __name__ == "__main__":
    main()


@main.group()
def projections() -> None:
    """The read models kept from the event log."""


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@with_ledger
def projections_status(ledger: Ledger, as_json: bool) -> None:
    """Show each projection's checkpoint, the ledger's head and the lag between them."""
    from .read_models.projector import Projector

    status = Projector(ledger.engine, ledger.store).status()
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
    from .read_models.projector import Projector

    applied = Projector(ledger.engine, ledger.store, batch_size=batch_size).run_once()
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
    from .read_models.rebuild import RebuildFailed, rebuild

    head = ledger.store.head().position
    progress, advance = _progress(head, "rebuilding")
    try:
        with progress:
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


@main.command()
@click.option("--events", type=click.IntRange(min=1), required=True, help="About how many events.")
@click.option("--entities", type=click.IntRange(min=2), required=True, help="How many entities.")
@click.option(
    "--deals", type=click.IntRange(min=0), default=None, help="How many deals [default: events/10]."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same history.")
@with_ledger
def synth(ledger: Ledger, events: int, entities: int, deals: int | None, seed: int) -> None:
    """Append a random, plausible deal web for scale tests (power-law deal counts,
    amendments, tranches, back-dated corrections, retractions)."""
    from .synth import synth as make

    progress, advance = _progress(events, "appending")
    try:
        with progress:
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


@main.group()
def keys() -> None:
    """API keys for the HTTP API (roles: reader, writer, auditor)."""


@keys.command("create")
@click.option(
    "--role",
    type=click.Choice(["reader", "writer", "auditor"]),
    required=True,
    help="What it may do.",
)
@click.option("--name", default="", help="Who or what it is for (shown by `keys list`).")
@with_ledger
def keys_create(ledger: Ledger, role: str, name: str) -> None:
    """Create a key and print it, once: only its hash is stored."""
    from .store.keys import create_key

    record, key = create_key(ledger.owner_engine, role, name or role)
    err.print(f"created {record.role} key {record.id} ({record.name}); it is shown only now:")
    click.echo(key)


@keys.command("list")
@with_ledger
def keys_list(ledger: Ledger) -> None:
    """Every key: id, role, name, created, revoked (never the key itself)."""
    from .store.keys import list_keys

    for k in list_keys(ledger.owner_engine):
        revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        click.echo(
            f"{k.id}  {k.role:<8} {k.name:<24} created {k.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@keys.command("revoke")
@click.argument("key_id")
@with_ledger
def keys_revoke(ledger: Ledger, key_id: str) -> None:
    """Revoke a key by its id; requests with it are refused from now on."""
    from .store.keys import revoke_key

    record = revoke_key(ledger.owner_engine, key_id)
    click.echo(f"revoked {record.role} key {record.id} ({record.name})")
