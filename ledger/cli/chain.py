"""The hash chain: ``ledger head`` prints the digest to keep, ``ledger verify`` checks it."""

from __future__ import annotations

import json
import sys

import click

from ..domain.chain import Digest
from ..runtime import Ledger
from . import progress, with_ledger


@click.command()
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


@click.command()
@click.option(
    "--digest",
    "digest_text",
    metavar="POSITION:HASH",
    help="Also prove this earlier digest is still in the ledger.",
)
@with_ledger
def verify(ledger: Ledger, digest_text: str | None) -> None:
    """Recompute the hash chain and report the first position where it breaks."""
    from ..store.verify import verify as verify_chain

    digest = Digest.parse(digest_text) if digest_text else None
    bar, on_progress = progress(ledger.store.head().position)
    with bar:
        report = verify_chain(ledger.store, digest, on_progress)
    click.echo(report.describe())
    if not report.ok:
        sys.exit(1)


COMMANDS = (head, verify)
