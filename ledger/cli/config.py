"""``ledger config``: every setting the ledger reads, its value in effect and where that value
came from, and where its embedded data lives (with the running server's connection URL)."""

from __future__ import annotations

import os

import click
from sqlalchemy.engine import make_url

from ..settings import FIELDS, VARIABLES, Settings
from . import settings_from_env


def _shown(name: str, settings: Settings) -> str:
    value = getattr(settings, FIELDS[name])
    if name == "LEDGER_MIGRATE_ON_START":
        value = settings.should_migrate_on_start
    elif name == "LEDGER_SEED":
        value = settings.should_seed_on_start
    elif name == "LEDGER_CHECKPOINT_KEY_FILE":
        value = settings.checkpoint_key_path
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if name.endswith("_URL"):
        return make_url(str(value)).render_as_string(hide_password=True)
    return repr(value) if value == "" else str(value)


@click.command("config")
def show_config() -> None:
    """List every LEDGER_* setting: its value in effect, whether it came from the environment
    or is the default, and what it means; then the embedded server's data and URL."""
    settings = settings_from_env()
    for name, meaning in VARIABLES.items():
        source = "environment" if os.environ.get(name, "").strip() else "default"
        if name == "LEDGER_APP_ROLE" and name in os.environ:
            source = "environment"  # '' is a value here: no role
        click.echo(f"{name}={_shown(name, settings)}  ({source})\n    {meaning}")
    if not settings.embedded:
        click.echo("\ndatabase: the server named by LEDGER_DATABASE_URL (no embedded server)")
        return
    from ..store.embedded import running_url

    click.echo(f"\nembedded PostgreSQL: data in {settings.data_dir}")
    url = running_url(settings.data_dir)
    if url is None:
        click.echo(
            "  not running now; it starts with `ledger serve` (or any command). While "
            "`ledger serve` runs, `ledger config` prints its URL here, e.g. for pg_dump."
        )
    else:
        click.echo(f"  running; its URL (the owner, a superuser): {url}")


COMMANDS = (show_config,)
