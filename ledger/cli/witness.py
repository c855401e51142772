"""``ledger witness``: watch a ledger's checkpoints over its API and refuse a history that
does not extend the one it saw (docs/proofs.md, "Running a witness").

Needs no database: it asks the ledger's GraphQL endpoint for ``ledgerCheckpoint`` and
``consistencyProof`` (plain HTTP, the standard library's client), checks them with the pure
code of ``ledger.domain.witness`` against the key it was given (never the one the server
serves), and records each accepted checkpoint in its state file (the signed note, the form
``ledger verify-proof --from-checkpoint`` reads), written atomically.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from ..domain.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from ..domain.errors import LedgerError, ProofRefused
from ..domain.proofs import ConsistencyProof, parse_proof
from ..domain.witness import SplitView, accept, describe, needs_proof
from . import err, fail, translated_errors
from .proofs import read_key


class Unreachable(LedgerError):
    """The ledger's API did not answer, or answered something that is not GraphQL."""


def _ask(url: str, api_key: str | None, query: str, variables: dict[str, Any]) -> Any:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(f"{url.rstrip('/')}/graphql", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unreachable(f"{url}: {exc}") from None
    if answer.get("errors"):
        raise Unreachable(f"{url}: {answer['errors'][0].get('message')}")
    return answer["data"]


def _load(state: Path, key: VerifierKey) -> Checkpoint | None:
    if not state.exists():
        return None
    return open_checkpoint(state.read_bytes(), key)


def _save(state: Path, note: str) -> None:
    fresh = state.with_name(state.name + ".new")
    fresh.write_text(note)
    os.replace(fresh, state)


def watch_once(url: str, key: VerifierKey, state: Path, api_key: str | None) -> str:
    """One poll: fetch the latest checkpoint, check it extends the state's, record it."""
    accepted = _load(state, key)
    data = _ask(url, api_key, "{ ledgerCheckpoint { note } }", {})
    if data["ledgerCheckpoint"] is None:
        return "the ledger has issued no checkpoint yet"
    note = data["ledgerCheckpoint"]["note"]
    shown = open_checkpoint(note, key)
    proof = None
    if needs_proof(accepted, shown):
        assert accepted is not None
        answer = _ask(
            url,
            api_key,
            "query($m: Int!, $n: Int!) { consistencyProof(fromSize: $m, toSize: $n)"
            " { fromSize toSize hashes } }",
            {"m": accepted.tree_size, "n": shown.tree_size},
        )
        parsed = parse_proof(json.dumps(answer))
        if not isinstance(parsed, ConsistencyProof):
            raise ProofRefused("consistencyProof", "the ledger answered another kind of proof")
        proof = parsed
    checked = accept(key, accepted, note, proof)
    if accepted is not None and checked.tree_size == accepted.tree_size:
        return f"unchanged: {describe(checked)}"
    _save(state, note)
    since = f", extends {describe(accepted)}" if accepted else " (the first)"
    return f"accepted {describe(checked)}{since}"


@click.command()
@click.option("--url", required=True, help="The ledger's service, e.g. https://ledger.example.org")
@click.option(
    "--key",
    "key_text",
    required=True,
    metavar="VKEY|FILE",
    help="The ledger's public key (C2SP vkey) from a source you trust, or a file holding it.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where the last accepted checkpoint is kept (made on the first run).",
)
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
@click.option("--once", is_flag=True, help="Poll once and exit (for cron and tests).")
@click.option("--api-key", envvar=None, help="An API key, if the ledger asks for one.")
@translated_errors
def witness(
    url: str, key_text: str, state: Path, interval: float, once: bool, api_key: str | None
) -> None:
    """Poll the ledger's checkpoints; verify each extends the last one accepted (consistency
    proof) and record it. Exits 1 naming both checkpoints the moment the ledger shows a
    history that does not extend the one it showed before."""
    key = read_key(key_text)
    while True:
        try:
            click.echo(watch_once(url, key, state, api_key))
        except SplitView as exc:
            err.print(f"[bold red]{exc.reason}[/]", highlight=False, soft_wrap=True)
            err.print(f"accepted before ({state}):\n{state.read_text()}", highlight=False)
            sys.exit(1)
        except Unreachable as exc:
            if once:
                fail(str(exc))
            err.print(f"warning: {exc}; trying again", highlight=False, soft_wrap=True)
        if once:
            return
        time.sleep(interval)


COMMANDS = (witness,)
