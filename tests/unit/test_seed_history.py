"""The shipped recording history is what ``ledger.transfer.history`` derives from the source."""

from __future__ import annotations

import datetime as dt

from ledger.domain.chain import ChainVerifier
from ledger.domain.jsonl import parse_recorded
from ledger.transfer.history import FIRST_CURATION, curated_history, history_lines
from ledger.transfer.seed import history_path, seed_path


def test_the_shipped_history_is_regenerated_byte_for_byte_from_the_source() -> None:
    with seed_path().open("rb") as source:
        regenerated = b"".join(history_lines(source))
    assert regenerated == history_path().read_bytes(), (
        "run: python -m ledger.transfer.history ledger/data/ai-deal-web.jsonl "
        "> ledger/data/ai-deal-web.history.jsonl"
    )


def test_the_history_chains_and_holds_every_source_event_once() -> None:
    verifier = ChainVerifier()
    with history_path().open("rb") as lines:
        events = [parse_recorded(line, n) for n, line in enumerate(lines, start=1)]
    for event in events:
        assert verifier.feed(event) is None
    with seed_path().open("rb") as source:
        source_ids = [e.event_id for e in curated_history(source)]
    assert sorted(e.event_id for e in events) == sorted(source_ids)
    assert len(set(source_ids)) == len(source_ids)
    times = [e.recorded_at for e in events]
    assert times == sorted(times) and times[0] == FIRST_CURATION


def test_a_correction_is_recorded_after_what_it_corrects_and_entities_before_their_use() -> None:
    with history_path().open("rb") as lines:
        events = [parse_recorded(line, n) for n, line in enumerate(lines, start=1)]
    retraction = next(e for e in events if e.type == "EventRetracted")
    target = next(e for e in events if str(e.event_id) == retraction.data["target_event_id"])
    assert target.recorded_at < retraction.recorded_at
    assert retraction.recorded_at == dt.datetime(2025, 12, 12, 12, tzinfo=dt.UTC)
    registered: set[str] = set()
    for event in events:
        if event.type == "EntityRegistered":
            registered.add(event.data["entity_id"])
        for leg in event.data.get("legs", ()):
            assert {leg["payer"], leg["payee"]} <= registered, event.event_id


def test_the_readme_prints_the_histories_head_digest() -> None:
    import json
    from pathlib import Path

    last = json.loads(history_path().read_text().splitlines()[-1])
    digest = f"{last['position']}:{last['hash']}"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"```\n{digest}\n```" in readme and f"ledger verify --digest {digest}" in readme
