"""Reads from standbys keep the consistency rules of spec section 2, whichever service and
whichever node answers: read your writes across services, a lagging standby, and identical
past answers."""

from __future__ import annotations

import re
import time

import httpx
import psycopg
import pytest

from tests.cluster.formation import Formation
from tests.e2e.processes import run_ledger
from tests.e2e.test_consistency import ENTITY, Api

pytestmark = pytest.mark.cluster


def standby_answers(api: Api) -> dict[str, float]:
    text = httpx.get(api.url + "/metrics", timeout=10).text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^ledger_standby_answers_total\{served="(\w+)"\} (\S+)$', text, re.M)
    }


def test_a_write_through_one_service_is_read_through_the_other_at_its_position(
    services: tuple[Api, Api],
) -> None:
    a, b = services
    a.register("ryw")
    # After an earlier test's failover, B's connections that reached the primary while the
    # standby was away are given up within seconds: its answers go back to the standby.
    start, deadline = standby_answers(b).get("standby", 0), time.monotonic() + 60
    while standby_answers(b).get("standby", 0) < start + 10:
        assert time.monotonic() < deadline, "answers never went back to the standby"
        b.ok(ENTITY, id="ryw")
    before = standby_answers(b)
    for i in range(1, 31):
        written = a.value("ryw", str(i))
        answer = b.ok(ENTITY, id="ryw", atLeast=written["position"])
        assert answer["data"]["entity"]["valuationUsd"] == str(i)
        assert answer["extensions"]["ledger"]["position"] >= written["position"]
        # and with the header instead of the argument
        answer = b.ok(ENTITY, {"Ledger-Min-Position": str(written["position"])}, id="ryw")
        assert answer["data"]["entity"]["valuationUsd"] == str(i)
    after = standby_answers(b)
    served = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    # The standby answered; it keeps up, so none of its answers had to move to the primary.
    assert served.get("standby", 0) >= 50, served
    assert served.get("moved", 0) == 0, served
    print("read-your-writes through the standby:", served)


def test_a_lagging_standby_answers_the_past_identically_and_passes_the_present_on(
    formation: Formation, services: tuple[Api, Api]
) -> None:
    a, b = services
    a.register("lag")
    first = a.value("lag", "100")
    pinned = b.ok(ENTITY, id="lag", atPosition=first["position"])
    assert pinned["data"]["entity"]["valuationUsd"] == "100"
    (standby,) = formation.standbys()
    with psycopg.connect(standby.url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            second = a.value("lag", "200")
            before = standby_answers(b)
            # The present (and a position the standby has not replayed) comes from the primary.
            now = b.ok(ENTITY, id="lag", atLeast=second["position"])
            assert now["data"]["entity"]["valuationUsd"] == "200"
            # The past the standby holds is still answered by it, and identically.
            again = b.ok(ENTITY, id="lag", atPosition=first["position"])
            assert again == pinned
            at_k = b.ok(ENTITY, id="lag", knownAt=first["recordedAt"])
            assert at_k["data"] == pinned["data"]
            served = {k: v - before.get(k, 0) for k, v in standby_answers(b).items()}
            assert served.get("behind", 0) >= 2, served
            assert served.get("moved", 0) >= 1, served
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
    # Replaying again, the standby answers the present itself.
    assert (
        b.ok(ENTITY, id="lag", atLeast=second["position"])["data"]["entity"]["valuationUsd"]
        == "200"
    )


def test_a_recovery_conflict_on_the_standby_moves_the_question_to_the_primary(
    formation: Formation, services: tuple[Api, Api], cluster_env: dict[str, str]
) -> None:
    # A snapshot held on the standby while the primary swaps in rebuilt read models: the
    # standby's replay of the swap conflicts with the snapshot's locks and, past
    # max_standby_streaming_delay, cancels it. The next question is asked on the primary and
    # answered completely -- never a partial answer, never an error.
    import datetime as dt

    from ledger import queries
    from ledger.store.engine import make_engine

    a, _ = services
    a.register("conflict")
    a.value("conflict", "321")
    (standby,) = formation.standbys()
    with psycopg.connect(standby.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET max_standby_streaming_delay = '100ms'")
        conn.execute("SELECT pg_reload_conf()")
    standby_engine = make_engine(formation.read_url(), app_role="ledger_app")
    primary_engine = make_engine(formation.write_url(), app_role="ledger_app")
    as_of = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    try:
        before = queries.standby_counters()
        snapshot = queries.Snapshot(standby_engine, primary=primary_engine)
        first = snapshot.answer(queries.entity, "conflict", as_of, None)
        assert first is not None and str(first.node.valuation_usd) == "321"
        rebuilt = run_ledger("projections", "rebuild", env=cluster_env, timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        # Replayed (and the snapshot cancelled) once the standby has the swap's WAL.
        with psycopg.connect(formation.primary().url, autocommit=True) as conn:
            wal = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        with psycopg.connect(standby.url, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (wal,)
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the standby never replayed the swap"
                time.sleep(0.05)
        second = snapshot.answer(queries.entity, "conflict", as_of, None)
        assert second is not None and str(second.node.valuation_usd) == "321"
        snapshot.close()
        after = queries.standby_counters()
        assert after["moved"] == before["moved"] + 1, (before, after)
    finally:
        standby_engine.dispose()
        primary_engine.dispose()
        with psycopg.connect(standby.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET max_standby_streaming_delay")
            conn.execute("SELECT pg_reload_conf()")
