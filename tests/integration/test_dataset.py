"""The bundled AI deal web, loaded into a real ledger, against what the seed articles say."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from ledger import queries
from ledger.domain import analysis
from ledger.projections.projector import Projector
from ledger.store import EventStore
from ledger.transfer.seed import history_path, load_seed, seed_path
from tests.conftest import TestDatabase

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # knownAt: everything recorded so far
B = Decimal(10**9)


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def seeded(store: EventStore, database: TestDatabase) -> TestDatabase:
    report = load_seed(store)
    assert report.ok, report.refused
    Projector(database.app_engine, store).run_once()
    return database


def test_the_seed_loads_whole_and_a_second_load_writes_nothing(store: EventStore) -> None:
    first = load_seed(store)
    assert first.ok and first.written == first.lines
    again = load_seed(store)
    assert again.ok and again.written == 0 and again.already_recorded == first.lines


def test_every_event_names_its_source_by_url_and_title(
    seeded: TestDatabase, store: EventStore
) -> None:
    events = store.read(after=0, limit=10_000)
    assert events, "the seed recorded nothing"
    for event in events:
        url, title = event.source.get("url", ""), event.source.get("title", "")
        assert url.startswith(("https://", "http://")) and title.strip(), event.event_id


def _seed_lines() -> list[dict]:
    with seed_path().open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


def test_the_data_set_has_no_duplicate_deals_and_only_exact_amounts() -> None:
    lines = _seed_lines()
    retracted = {e["data"]["target_event_id"] for e in lines if e["type"] == "EventRetracted"}
    announced = [
        e for e in lines if e["type"] == "DealAnnounced" and e["event_id"] not in retracted
    ]
    ids = [e["data"]["deal_id"] for e in announced]
    assert len(ids) == len(set(ids)), "a deal announced twice"
    # the same legs announced under two deal ids would be a duplicate too
    shapes = [
        (
            e["effective_at"],
            tuple(sorted((lg["payer"], lg["payee"], lg["instrument"]) for lg in e["data"]["legs"])),
        )
        for e in announced
    ]
    assert len(shapes) == len(set(shapes)), "two deals with the same day and legs"
    for e in lines:
        for leg in e["data"].get("legs", []):
            for field in ("headline_usd", "committed_usd"):
                if field in leg:
                    assert isinstance(leg[field], str) and Decimal(leg[field]) == int(leg[field])
        assert e["effective_at"].endswith("T00:00:00Z")
    assert len(lines) >= 130 and sum(e["type"] == "EntityRegistered" for e in lines) >= 35


@pytest.mark.parametrize(
    ("as_of", "billions"),
    [("2024-12-31", 157), ("2025-04-30", 300), ("2025-10-31", 500)],
)
def test_openai_valuation_is_what_the_articles_say(
    seeded: TestDatabase, as_of: str, billions: int
) -> None:
    view = queries.entity(seeded.app_engine, "openai", day(as_of), LATER)
    assert view is not None and view.node.valuation_usd == billions * B


def _nvidia_openai_edges(engine, as_of: str) -> list:
    g = queries.graph(engine, day(as_of), LATER)
    return [e for e in g.edges if {e.payer, e.payee} == {"nvidia", "openai"}]


def test_there_is_no_nvidia_openai_deal_before_september_2025(seeded: TestDatabase) -> None:
    assert _nvidia_openai_edges(seeded.app_engine, "2025-08-31") == []


def test_the_nvidia_openai_deal_is_live_by_october_2025_and_money_goes_round(
    seeded: TestDatabase,
) -> None:
    edges = _nvidia_openai_edges(seeded.app_engine, "2025-10-01")
    assert {(e.payer, e.payee, e.instrument) for e in edges} >= {
        ("nvidia", "openai", "equity"),
        ("openai", "nvidia", "purchase"),
    }
    equity = next(e for e in edges if e.instrument == "equity")
    assert equity.amount_usd == 100 * B  # "up to $100B"
    cycles = queries.circular_flows(seeded.app_engine, day("2025-10-01"), LATER, through="nvidia")
    assert any(set(c.entities) == {"nvidia", "openai"} for c in cycles)


def test_openai_commitments_are_of_the_order_the_articles_give(seeded: TestDatabase) -> None:
    """The articles: about $1T of commitments against about $13B of 2025 revenue. The data set
    holds only sourced dollar figures (capacity-only deals count 0): docs/dataset.md."""
    view = queries.entity(seeded.app_engine, "openai", day("2025-10-31"), LATER)
    assert view is not None
    committed = analysis.commitments(view.edges, "openai")
    assert 500 * B <= committed <= 1500 * B
    forecast = [r for r in view.revenue_reports if r.forecast and r.period_end.year == 2025]
    assert forecast and forecast[-1].revenue_usd == 13 * B
    assert view.commitment_ratio is not None and view.commitment_ratio > 40


# ---- the web after October 2025: dated facts from the sources in the data set (docs/dataset.md)


def _edges(engine, as_of: str, payer: str, payee: str, instrument: str) -> list:
    g = queries.graph(engine, day(as_of), LATER)
    return [e for e in g.edges if (e.payer, e.payee, e.instrument) == (payer, payee, instrument)]


@pytest.mark.parametrize(
    ("as_of", "payer", "payee", "instrument", "deal_id", "billions"),
    [
        # absent the day before the announcement
        ("2025-11-17", "microsoft", "anthropic", "equity", "microsoft-anthropic-2025-11", None),
        ("2025-11-18", "microsoft", "anthropic", "equity", "microsoft-anthropic-2025-11", 5),
        ("2025-11-30", "anthropic", "microsoft", "purchase", "microsoft-anthropic-2025-11", 30),
        ("2025-12-01", "nvidia", "anthropic", "equity", "nvidia-anthropic-2025-11", 10),
        ("2025-11-02", "microsoft", "iren", "purchase", "microsoft-iren-2025-11", None),
        ("2025-11-03", "microsoft", "iren", "purchase", "microsoft-iren-2025-11", Decimal("9.7")),
        ("2025-12-10", "anthropic", "broadcom", "purchase", "anthropic-broadcom-2025-12", None),
        ("2025-12-11", "anthropic", "broadcom", "purchase", "anthropic-broadcom-2025-12", 21),
        ("2025-12-31", "disney", "openai", "equity", "disney-openai-2025-12", 1),
        ("2025-12-24", "nvidia", "groq", "purchase", "nvidia-groq-2025-12", 20),
        ("2026-01-13", "openai", "cerebras", "purchase", "openai-cerebras-2026-01", None),
        ("2026-01-14", "openai", "cerebras", "purchase", "openai-cerebras-2026-01", 10),
        ("2026-01-26", "nvidia", "coreweave", "equity", "nvidia-coreweave-2026-01", 2),
        ("2026-02-02", "spacex", "xai", "equity", "spacex-xai-2026-02", 250),
        ("2026-02-26", "nvidia", "openai", "equity", "nvidia-openai-2025-09", 100),
        ("2026-02-27", "nvidia", "openai", "equity", "nvidia-openai-2025-09", None),  # terminated
        ("2026-02-27", "nvidia", "openai", "equity", "nvidia-openai-2026-02", 30),
        ("2026-03-01", "amazon", "openai", "equity", "amazon-openai-2026-02", 50),
        ("2026-04-08", "meta", "coreweave", "purchase", "meta-coreweave-2025-09", Decimal("14.2")),
        ("2026-04-09", "meta", "coreweave", "purchase", "meta-coreweave-2025-09", Decimal("35.2")),
        ("2026-04-20", "anthropic", "amazon", "purchase", "amazon-anthropic-2026-04", 100),
        ("2026-04-24", "google", "anthropic", "equity", "google-anthropic-2026-04", 40),
        ("2026-03-15", "meta", "nebius", "purchase", "meta-nebius-2026-03", None),
        ("2026-03-16", "meta", "nebius", "purchase", "meta-nebius-2026-03", 27),
        ("2025-12-01", "nvidia", "synopsys", "equity", "nvidia-synopsys-2025-12", 2),
        ("2025-10-28", "nvidia", "nokia", "equity", "nvidia-nokia-2025-10", 1),
        ("2026-02-26", "openai", "amazon", "purchase", "openai-amazon-2025-11", 38),
        ("2026-02-27", "openai", "amazon", "purchase", "openai-amazon-2025-11", 138),
        ("2025-08-18", "softbank", "intel", "equity", "softbank-intel-2025-08", 2),
    ],
)
def test_deals_after_october_2025_are_live_from_their_day(
    seeded: TestDatabase,
    as_of: str,
    payer: str,
    payee: str,
    instrument: str,
    deal_id: str,
    billions,
) -> None:
    edges = [
        e
        for e in _edges(seeded.app_engine, as_of, payer, payee, instrument)
        if e.deal_id == deal_id
    ]
    if billions is None:
        assert edges == []
    else:
        assert sum(e.amount_usd for e in edges) == Decimal(billions) * B


@pytest.mark.parametrize(
    ("entity_id", "as_of", "billions"),
    [
        ("openai", "2026-02-26", 500),
        ("openai", "2026-03-15", 840),
        ("openai", "2026-06-30", 852),
        ("anthropic", "2026-02-27", 183),
        ("anthropic", "2026-03-31", 380),
        ("anthropic", "2026-06-30", 965),
        ("xai", "2026-01-31", 230),
        ("xai", "2026-02-02", 250),
        ("spacex", "2026-06-30", 1250),
        ("cerebras", "2026-03-01", 23),
        ("groq", "2025-12-31", Decimal("6.9")),
    ],
)
def test_valuations_after_october_2025(
    seeded: TestDatabase, entity_id: str, as_of: str, billions
) -> None:
    view = queries.entity(seeded.app_engine, entity_id, day(as_of), LATER)
    assert view is not None and view.node.valuation_usd == Decimal(billions) * B


def test_the_us_government_takes_15_percent_of_h20_and_25_percent_of_h200_china_sales(
    seeded: TestDatabase,
) -> None:
    before = _edges(seeded.app_engine, "2025-12-07", "nvidia", "us-government", "revenue_share")
    after = _edges(seeded.app_engine, "2025-12-08", "nvidia", "us-government", "revenue_share")
    assert {e.leg for e in before} == {"china-h20-share"}
    assert {e.leg for e in after} == {"china-h20-share", "china-h200-share"}


def test_nvidias_fiscal_2026_revenue_is_reported_in_february_2026(seeded: TestDatabase) -> None:
    view = queries.entity(seeded.app_engine, "nvidia", day("2026-03-01"), LATER)
    assert view is not None
    years = [
        r
        for r in view.revenue_reports
        if (r.period_start.isoformat(), r.period_end.isoformat()) == ("2025-01-27", "2026-01-25")
    ]
    assert [r.revenue_usd for r in years] == [Decimal("215.9") * B]


def test_a_circular_flow_appears_in_2026_meta_buys_amd_gpus_and_holds_amd_warrants(
    seeded: TestDatabase,
) -> None:
    def loop(as_of: str) -> bool:
        cycles = queries.circular_flows(seeded.app_engine, day(as_of), LATER, through="amd")
        return any(set(c.entities) == {"amd", "meta"} for c in cycles)

    assert not loop("2026-02-23")
    assert loop("2026-02-24")


def test_microsoft_and_nvidia_money_goes_round_through_anthropic_from_november_2025(
    seeded: TestDatabase,
) -> None:
    for through in ("microsoft", "nvidia"):
        cycles = queries.circular_flows(
            seeded.app_engine, day("2025-12-01"), LATER, through=through
        )
        assert any(set(c.entities) == {through, "anthropic"} for c in cycles), through
        early = queries.circular_flows(seeded.app_engine, day("2025-11-17"), LATER, through=through)
        assert not any(set(c.entities) == {through, "anthropic"} for c in early), through


def test_the_broadcom_link_is_corrected_as_a_correction(
    seeded: TestDatabase, store: EventStore
) -> None:
    """Until the retraction is recorded the OpenAI-Broadcom deal carries the September-order link;
    from then on the corrected announcement names Anthropic as that customer. The deal stays live
    from 2025-10-13 either way."""
    events = store.read(after=0, limit=10_000)
    retraction = next(e for e in events if e.type == "EventRetracted")
    before = queries.deal(
        seeded.app_engine,
        "openai-broadcom-2025-10",
        day("2025-10-31"),
        None,
        at_position=retraction.position - 1,
    )
    after = queries.deal(seeded.app_engine, "openai-broadcom-2025-10", day("2025-10-31"), LATER)
    assert before is not None and "~$10B order Broadcom mentioned" in (before.conditions or "")
    assert after is not None and "Anthropic" in (after.conditions or "")
    assert after.status == "LIVE"


def test_anthropic_rents_colossus_1_from_spacex_from_may_2026(seeded: TestDatabase) -> None:
    assert _edges(seeded.app_engine, "2026-05-05", "anthropic", "spacex", "purchase") == []
    [edge] = _edges(seeded.app_engine, "2026-05-06", "anthropic", "spacex", "purchase")
    assert edge.capacity_gw == Decimal("0.3") and edge.amount_usd == 0  # no sourced USD value


def test_openai_owes_microsoft_a_revenue_share_from_the_april_2026_amendment(
    seeded: TestDatabase,
) -> None:
    before = _edges(seeded.app_engine, "2026-04-26", "openai", "microsoft", "revenue_share")
    after = _edges(seeded.app_engine, "2026-04-27", "openai", "microsoft", "revenue_share")
    assert before == [] and [e.deal_id for e in after] == ["openai-microsoft-2025-10"]


def test_softbanks_2026_tranches_are_funded_on_their_days(seeded: TestDatabase) -> None:
    def funded(as_of: str) -> Decimal:
        g = queries.graph(seeded.app_engine, day(as_of), LATER, basis="FUNDED")
        return sum(
            (e.amount_usd for e in g.edges if e.deal_id == "softbank-openai-2026-02"), Decimal(0)
        )

    assert funded("2026-03-31") == 0
    assert funded("2026-04-01") == 10 * B
    assert funded("2026-07-01") == 20 * B


# ---- the shipped recording history (issue 19, acceptance point 3)


def _history_head() -> str:
    import json

    last = history_path().read_text().splitlines()[-1]
    value = json.loads(last)
    return f"{value['position']}:{value['hash']}"


def test_an_empty_ledger_seeded_with_the_owner_role_has_the_curators_head(
    store: EventStore, database: TestDatabase
) -> None:
    report = load_seed(store, owner_engine=database.owner_engine)
    assert report.ok and report.written == report.lines > 0
    assert str(store.head().digest) == _history_head()
    again = load_seed(store, owner_engine=database.owner_engine)  # not empty now: by event id
    assert again.ok and again.written == 0 and again.already_recorded == report.lines


def test_known_at_shows_what_the_curated_ledger_said_before_and_after_the_broadcom_correction(
    store: EventStore, database: TestDatabase
) -> None:
    load_seed(store, owner_engine=database.owner_engine)
    Projector(database.app_engine, store).run_once()
    deal = "openai-broadcom-2025-10"
    before = queries.deal(database.app_engine, deal, day("2025-11-30"), day("2025-12-01"))
    after = queries.deal(database.app_engine, deal, day("2025-11-30"), day("2025-12-13"))
    assert before is not None and "~$10B order Broadcom mentioned" in (before.conditions or "")
    assert after is not None and "Anthropic" in (after.conditions or "")
    # on 2025-12-01 the curated ledger did not know of Broadcom's Anthropic orders yet
    assert _edges_known(database, "2025-12-31", "2025-12-01", "anthropic", "broadcom") == []
    assert _edges_known(database, "2025-12-31", "2025-12-13", "anthropic", "broadcom") != []


def _edges_known(database: TestDatabase, as_of: str, known_at: str, payer: str, payee: str) -> list:
    g = queries.graph(database.app_engine, day(as_of), day(known_at))
    return [e for e in g.edges if (e.payer, e.payee) == (payer, payee)]


def test_a_ledger_that_holds_events_gets_the_seed_appended_by_event_id(
    store: EventStore, database: TestDatabase
) -> None:
    from ledger.domain.envelope import NewEvent

    store.append(
        "entity/acme",
        [
            NewEvent(
                type="EntityRegistered",
                data={"entity_id": "acme", "name": "Acme", "kind": "company"},
                effective_at="2020-01-01T00:00:00Z",
                source={"url": "https://example.com/acme", "title": "Acme"},
            )
        ],
    )
    report = load_seed(store, owner_engine=database.owner_engine)
    assert report.ok and report.written == report.lines
    assert store.head().position == report.lines + 1
