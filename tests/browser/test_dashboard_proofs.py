"""The audit view verifies the ledger's Merkle proofs in the browser (WebCrypto): a kept
checkpoint extends to the new one and the kept digest is in its tree; an answer tampered in
transit (one hash of the consistency proof rewritten by a route) is caught and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ledger.domain.checkpoint import SigningKey
from ledger.signing import write_key_file
from ledger.store import EventStore
from ledger.store.checkpoints import CHANNEL
from tests.browser.test_dashboard import Dashboard
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env
from tests.factories import registered, valuation

ORIGIN = "ledger.test/browser"
RESULT = "document.getElementById('verify-result')"


def wait_result(page: Any, kind: str, text: str) -> str:
    page.wait_for_function(
        f"[{RESULT}.querySelector('.{kind}'), {RESULT}.innerText]"
        f".every(Boolean) && {RESULT}.innerText.includes({text!r})"
    )
    return page.inner_text("#verify-result")


def test_the_audit_view_verifies_proofs_itself_and_shows_a_tampered_answer(
    browser: Any, database: TestDatabase, store: EventStore, tmp_path: Path
) -> None:
    key_file = tmp_path / "checkpoint.key"
    write_key_file(key_file, SigningKey.generate(ORIGIN))
    env = clean_env(
        LEDGER_DATABASE_URL=database.libpq_url,
        LEDGER_SEED="true",
        LEDGER_CHECKPOINT_KEY_FILE=str(key_file),
        LEDGER_ORIGIN=ORIGIN,
    )
    with Server(env) as server, psycopg.connect(database.libpq_url, autocommit=True) as conn:
        board = Dashboard(browser, server)
        page = board.page
        page.click("[data-tab=audit]")
        page.click("#verify")  # the first time: keeps the checkpoint and the key
        said = wait_result(page, "ok", "verified in this browser")
        assert "signature ✓" in said, said

        conn.execute(f"LISTEN {CHANNEL}")
        head = store.head().position
        store.append("entity/late", [registered("late"), valuation("1", "late")])
        for notice in conn.notifies(timeout=30):
            if int(notice.payload) >= head + 2:
                break

        def tamper(route: Any) -> None:
            response = route.fetch()
            body = response.json()
            proof = (body.get("data") or {}).get("consistencyProof")
            if proof and proof["hashes"]:
                first = proof["hashes"][0]
                proof["hashes"][0] = ("0" if first[0] != "0" else "1") + first[1:]
            route.fulfill(response=response, json=body)

        page.route("**/graphql", tamper)
        page.click("#verify")
        said = wait_result(page, "bad", "does not extend")
        assert "Root" in said, said
        board.shot("audit-proof-tampered")

        page.unroute("**/graphql", tamper)
        page.click("#verify")
        said = wait_result(page, "ok", f"extends the kept {head}")
        assert f"event {head} in it ✓" in said, said
        board.shot("audit-proofs-verified")
        board.assert_clean()
