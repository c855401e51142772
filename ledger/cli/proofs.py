"""Proofs without a database: ``ledger verify-proof`` and ``ledger checkpoint keygen``.

Neither opens the ledger: an auditor checks a proof with the checkpoint and the public key
they hold (docs/proofs.md), and the operator makes a signing key before any server runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..domain.checkpoint import Checkpoint, SigningKey, VerifierKey, open_checkpoint
from ..domain.errors import ValidationError
from ..domain.proofs import InclusionProof, parse_proof
from ..signing import SETTING, write_key_file
from . import err, fail, settings_from_env, translated_errors

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


@click.group()
def checkpoint() -> None:
    """Signed checkpoints of the ledger's Merkle tree (docs/proofs.md)."""


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


COMMANDS = (verify_proof, checkpoint)
