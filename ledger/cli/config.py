"""``ledger config``: the settings the ledger reads and where its embedded data lives."""

from __future__ import annotations

import click

from ..settings import VARIABLES
from . import settings_from_env


@click.command("config")
def show_config() -> None:
    """List the LEDGER_* environment variables and their current values."""
    settings = settings_from_env()
    for name, meaning in VARIABLES.items():
        click.echo(f"{name}\n    {meaning}")
    click.echo(f"\nembedded: {settings.embedded}  data_dir: {settings.data_dir}")


COMMANDS = (show_config,)
