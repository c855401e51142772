"""``ledger keys``: API keys for the HTTP API, created, listed and revoked by the owner."""

from __future__ import annotations

import click

from ..runtime import Ledger
from . import err, with_ledger


@click.group()
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
    from ..store.keys import create_key

    record, key = create_key(ledger.owner_engine, role, name or role)
    err.print(f"created {record.role} key {record.id} ({record.name}); it is shown only now:")
    click.echo(key)


@keys.command("list")
@with_ledger
def keys_list(ledger: Ledger) -> None:
    """Every key: id, role, name, created, revoked (never the key itself)."""
    from ..store.keys import list_keys

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
    from ..store.keys import revoke_key

    record = revoke_key(ledger.owner_engine, key_id)
    click.echo(f"revoked {record.role} key {record.id} ({record.name})")


COMMANDS = (keys,)
