"""Proofs: ``ledger checkpoint``, ``ledger prove``, and two commands that need no database,
``ledger verify-proof`` and ``ledger checkpoint keygen``.

``verify-proof`` and ``keygen`` never open the ledger: an auditor checks a proof with the
checkpoint and the public key they hold (docs/proofs.md), and the operator makes a signing
key before any server runs. ``checkpoint`` and ``prove`` print what the GraphQL fields of SPEC
section 5 answer, as documents ``verify-proof`` reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from .. import queries
from ..domain.checkpoint import Checkpoint, SigningKey, VerifierKey, open_checkpoint
from ..domain.errors import ValidationError
from ..domain.proofs import InclusionProof, parse_proof
from ..runtime import Ledger, open_ledger
from ..signing import SETTING, write_key_file
from . import err, fail, settings_from_env, translated_errors, with_ledger

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_key(value: str) -> VerifierKey:
    """A vkey given as itself or as a file whose first non-empty line is one (the form
    ``/.well-known/ledger-key`` serves: the current key first)."""
    text = value
    if os.path.isfile(value):
        lines = [line.strip() for line in Path(value).read_text().splitlines() if line.strip()]
        if not lines:
            raise ValidationError("key", f"{value} holds no key")
        text = lines[0]
    return VerifierKey.parse(text)


def read_checkpoint(path: Path, key: VerifierKey) -> Checkpoint:
    return open_checkpoint(path.read_bytes(), key)


@click.command("verify-proof")
@click.argument("proof_file", type=FILE)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=FILE,
    required=True,
    help="The signed checkpoint the proof is against (a consistency proof's toSize).",
)
@click.option(
    "--from-checkpoint",
    "from_file",
    type=FILE,
    help="For a consistency proof: the checkpoint you kept earlier (its fromSize).",
)
@click.option(
    "--key",
    "key_text",
    required=True,
    metavar="VKEY|FILE",
    help="The ledger's public key (C2SP vkey), or a file whose first line is one.",
)
@click.option(
    "--hash",
    "event_hash",
    metavar="HEX",
    help="For an inclusion proof: the event's hash you hold; checks the leaf is that event.",
)
@translated_errors
def verify_proof(
    proof_file: Path,
    checkpoint_file: Path,
    from_file: Path | None,
    key_text: str,
    event_hash: str | None,
) -> None:
    """Check a proof (JSON, docs/proofs.md) against a signed checkpoint and the ledger's
    public key, with no database and no server. Exit 0 if it holds, 1 naming what failed."""
    key = read_key(key_text)
    proof = parse_proof(proof_file.read_bytes())
    checkpoint = read_checkpoint(checkpoint_file, key)
    if isinstance(proof, InclusionProof):
        if from_file is not None:
            fail("--from-checkpoint is for consistency proofs", 2)
        proof.verify(checkpoint, event_hash)
        click.echo(
            f"inclusion proof verified: the event at position {proof.position} is in the tree "
            f"of {checkpoint.tree_size} events of {checkpoint.origin} "
            f"(root {checkpoint.root_hash.hex()})"
        )
        return
    if from_file is None:
        fail("a consistency proof is checked against two checkpoints: give --from-checkpoint", 2)
        return
    if event_hash is not None:
        fail("--hash is for inclusion proofs", 2)
    old = read_checkpoint(from_file, key)
    proof.verify(old, checkpoint)
    click.echo(
        f"consistency proof verified: the tree of {checkpoint.tree_size} events "
        f"(root {checkpoint.root_hash.hex()}) extends the tree of {old.tree_size} events "
        f"(root {old.root_hash.hex()}) of {checkpoint.origin}"
    )


def _catch_up(ledger: Ledger) -> None:
    """Project what was appended (which also grows the tree and signs its checkpoint), so the
    answer covers the log even when no service is running; a service's projector, if one
    holds the lock, does it instead."""
    if ledger.signing_key is None:
        fail(
            "this ledger issues no checkpoints: set LEDGER_CHECKPOINT_KEY_FILE "
            "(`ledger checkpoint keygen --out FILE` makes one)",
            2,
        )
    ledger.projector().run_once()


@click.group(invoke_without_command=True)
@click.option(
    "--size",
    type=click.IntRange(min=0),
    help="The checkpoint issued at this tree size (default: the latest).",
)
@click.option("--json", "as_json", is_flag=True, help="As GraphQL's ledgerCheckpoint answers it.")
@click.pass_context
def checkpoint(ctx: click.Context, size: int | None, as_json: bool) -> None:
    """Print the ledger's latest signed checkpoint (a C2SP tlog-checkpoint note), or the one
    issued at --size; keep it, to check proofs against later (docs/proofs.md)."""
    if ctx.invoked_subcommand is not None:
        if size is not None or as_json:
            fail("--size and --json are options of `ledger checkpoint` itself", 2)
        return
    _print_checkpoint(size, as_json)


@translated_errors
def _print_checkpoint(size: int | None, as_json: bool) -> None:
    # Opened here, not by the group: `ledger checkpoint keygen` never opens the ledger.
    with open_ledger(settings_from_env()) as ledger:
        _print_issued(ledger, size, as_json)


def _print_issued(ledger: Ledger, size: int | None, as_json: bool) -> None:
    _catch_up(ledger)
    issued = queries.checkpoint(ledger.engine, size)
    if issued is None:
        fail(
            "no checkpoint has been issued yet"
            if size is None
            else f"no checkpoint was issued at tree size {size}"
        )
        return
    if not as_json:
        click.echo(issued.note, nl=False)
        return
    assert ledger.signing_key is not None
    answer = {
        "treeSize": issued.tree_size,
        "rootHash": issued.root_hash.hex(),
        "note": issued.note,
        "publicKey": ledger.signing_key.verifier.encode(),
    }
    click.echo(json.dumps({"ledgerCheckpoint": answer}, indent=2))


@click.command()
@click.argument("number", metavar="POSITION|TO", type=click.IntRange(min=0), required=False)
@click.option(
    "--tree-size",
    type=click.IntRange(min=0),
    help="An inclusion proof in the tree of this many events (default: the latest checkpoint's).",
)
@click.option(
    "--consistency",
    "from_size",
    type=click.IntRange(min=0),
    metavar="FROM",
    help="A consistency proof from the tree of FROM events to that of TO "
    "(default: the latest checkpoint's).",
)
@with_ledger
def prove(ledger: Ledger, number: int | None, tree_size: int | None, from_size: int | None) -> None:
    """Print a proof as JSON for `ledger verify-proof`: that the event at POSITION is in the
    tree (`ledger prove POSITION [--tree-size N]`), or that the tree of TO events extends the
    tree of FROM (`ledger prove --consistency FROM [TO]`)."""
    _catch_up(ledger)
    if from_size is not None:
        if tree_size is not None:
            fail("--tree-size is for inclusion proofs; give TO after FROM", 2)
        proof = queries.consistency(ledger.engine, from_size, number)
        click.echo(json.dumps(proof.to_json(), indent=2))
        return
    if number is None:
        fail("give the POSITION of an event, or --consistency FROM [TO]", 2)
        return
    inclusion = queries.inclusion(ledger.engine, number, tree_size)
    click.echo(json.dumps(inclusion.to_json(), indent=2))


@checkpoint.command("keygen")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write the signing key to (mode 0600; never overwritten).",
)
@click.option(
    "--origin",
    help="The ledger's name: the checkpoints' origin line and the key's name "
    "(default: LEDGER_ORIGIN's value, localhost/deal-ledger unless set).",
)
@translated_errors
def keygen(out: Path, origin: str | None) -> None:
    """Make a new Ed25519 signing key for checkpoints; print its setting line and its public
    key (vkey), the one auditors verify with."""
    origin = origin or settings_from_env().origin
    key = SigningKey.generate(origin)
    path = out.absolute()
    try:
        write_key_file(path, key)
    except FileExistsError:
        fail(f"{path} exists; refusing to overwrite a key", 2)
        return
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", 2)
        return
    err.print(
        f"wrote the signing key of {origin} to {path}; keep it secret. "
        "Its setting and its public key:",
        highlight=False,
        soft_wrap=True,
    )
    click.echo(f"{SETTING}={path}")
    if origin != settings_from_env().origin:
        err.print(f"and set LEDGER_ORIGIN={origin}, the key's name", highlight=False)
    click.echo(key.verifier.encode())


COMMANDS = (verify_proof, checkpoint, prove)
