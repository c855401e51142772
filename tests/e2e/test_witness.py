"""``ledger witness`` against running services: it accepts a ledger that grows, and catches a
split view -- two ledgers that share a prefix and then diverge, shown to one witness -- and
exits non-zero naming both checkpoints."""

from __future__ import annotations

from pathlib import Path

from ledger.domain.checkpoint import SigningKey, open_checkpoint
from ledger.projections.projector import Projector
from ledger.signing import write_key_file
from ledger.store import EventStore
from ledger.transfer.exporter import export_lines
from ledger.transfer.restore import restore_lines
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env, run_ledger
from tests.factories import registered, valuation

ORIGIN = "ledger.test/witness"


def test_a_witness_accepts_growth_and_catches_a_split_view(
    database: TestDatabase, second_database: TestDatabase, tmp_path: Path
) -> None:
    key = SigningKey.generate(ORIGIN)
    key_file = tmp_path / "checkpoint.key"
    write_key_file(key_file, key)
    vkey = key.verifier.encode()
    honest, forked = EventStore(database.app_engine), EventStore(second_database.app_engine)
    honest.append("entity/a", [registered("a"), valuation("1", "a"), valuation("2", "a")])
    # the fork shares the first three events, byte for byte
    restore_lines(second_database.owner_engine, export_lines(honest))
    for store, engine in ((honest, database.app_engine), (forked, second_database.app_engine)):
        Projector(engine, store, signing_key=key).run_once()
    honest.append("entity/b", [registered("b"), valuation("3", "b")])
    # the other history, one event longer: its consistency proof from 5 cannot hold
    forked.append("entity/c", [registered("c"), valuation("4", "c"), valuation("5", "c")])
    Projector(database.app_engine, honest, signing_key=key).run_once()
    Projector(second_database.app_engine, forked, signing_key=key).run_once()

    state = tmp_path / "witness.txt"

    def env_of(db: TestDatabase) -> dict[str, str]:
        return clean_env(
            LEDGER_DATABASE_URL=db.libpq_url,
            LEDGER_CHECKPOINT_KEY_FILE=str(key_file),
            LEDGER_ORIGIN=ORIGIN,
        )

    def witness(url: str) -> tuple[int, str]:
        result = run_ledger(
            "witness",
            "--url",
            url,
            "--key",
            vkey,
            "--state",
            str(state),
            "--once",
            env=clean_env(),
        )
        return result.returncode, result.stdout + result.stderr

    with Server(env_of(database)) as one, Server(env_of(second_database)) as other:
        # the witness first sees the shared prefix, as one auditor did ...
        state.write_text(_note_at(database, 3))
        code, said = witness(one.url)
        assert code == 0 and "accepted 5 events" in said and "extends 3 events" in said, said
        assert open_checkpoint(state.read_text(), key.verifier).tree_size == 5
        code, said = witness(one.url)
        assert code == 0 and "unchanged: 5 events" in said, said
        # ... then the ledger shows it the other history
        code, said = witness(other.url)
        assert code == 1, said
        assert "split view" in said and "consistency proof fails" in said, said
        assert "(6 events, root" in said and "(5 events, root" in said, said
        assert open_checkpoint(state.read_text(), key.verifier).tree_size == 5  # kept


def _note_at(database: TestDatabase, size: int) -> str:
    from ledger import queries

    issued = queries.checkpoint(database.app_engine, size)
    assert issued is not None
    return issued.note
