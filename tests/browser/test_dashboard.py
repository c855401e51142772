"""The exposure dashboard at / in Chromium, against a live server with the seed data (the AI
deal web), every other host blocked. Each state is screenshotted to tests/browser/screenshots/;
the redraw time after a slider move is measured in the page and printed (not asserted)."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.transfer.seed import seed_path
from tests.browser.conftest import SCREENSHOTS, only_the_app
from tests.conftest import TestDatabase, _fresh_database
from tests.e2e.processes import Server, clean_env, run_ledger

SEED_EVENTS = sum(1 for line in seed_path().open() if line.strip())

VIEWPORT = {"width": 1500, "height": 900}
# slider moves timed: month ends through 2025 as the web grows, then back and forth
MOVES = ["2025-01-31", "2025-03-31", "2025-05-31", "2025-07-31", "2025-09-30", "2025-10-31"]
MOVES += ["2025-11-30", "2025-12-26", "2025-08-31", "2025-10-31"]


@pytest.fixture(scope="module")
def server(pg_admin_url: str, template_database: str) -> Iterator[Server]:
    """One seeded server for the module's tests: none of them records anything."""
    databases = _fresh_database(pg_admin_url, template_database)
    database = next(databases)
    try:
        env = clean_env(LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true")
        with Server(env) as running:
            yield running
    finally:
        databases.close()


class Dashboard:
    """A page of the dashboard, as a person would use it, with what it tried to reach."""

    def __init__(self, browser: Any, server: Server, query: str = "") -> None:
        self.page = browser.new_page()
        self.page.set_viewport_size(VIEWPORT)
        self.elsewhere = only_the_app(self.page, server.port)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{server.url}/{query}")
        self.page.wait_for_selector("#graph[data-as-of]")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"))

    def move_slider_to(self, day: str) -> None:
        """Put the slider's thumb on ``day`` and wait until that day's graph is painted."""
        value = self.page.evaluate("day => dashboard.valueOf(day)", day)
        self.page.locator("#slider").fill(str(value))
        self.page.wait_for_selector(f'#graph[data-as-of="{day}"]')
        assert self.page.input_value("#as-of") == day

    def has_edge(self, edge_id: str) -> bool:
        return self.page.evaluate("id => dashboard.cy.$id(id).nonempty()", edge_id)

    def point_of(self, node: str | None = None, edge: str | None = None) -> tuple:
        """Where on the page a node (its centre) or an edge (its midpoint) is drawn."""
        return tuple(
            self.page.evaluate(
                """([node, edge]) => {
                  const el = node ? dashboard.cy.$id(node) : dashboard.cy.$id(edge);
                  const p = node ? el.renderedPosition() : el.renderedMidpoint();
                  const box = document.getElementById("graph").getBoundingClientRect();
                  return [box.left + p.x, box.top + p.y];
                }""",
                [node, edge],
            )
        )

    def click_node(self, node: str) -> None:
        self.page.mouse.click(*self.point_of(node=node))

    def classes(self, element_id: str) -> list[str]:
        return self.page.evaluate("id => dashboard.cy.$id(id).classes()", element_id)

    def label(self, node: str) -> str:
        return self.page.evaluate("id => dashboard.cy.$id(id).data('label')", node)

    def assert_clean(self) -> None:
        assert self.elsewhere == [], "the page reached beyond the app"
        assert self.errors == []


def test_the_slider_grows_the_web_nvidia_openai_edge_absent_in_august_present_in_october(
    browser: Any, server: Server, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    browser.tracing.start(screenshots=True, snapshots=True)
    board = Dashboard(browser, server)
    board.shot("loaded")

    board.move_slider_to("2025-08-31")
    assert not board.has_edge("nvidia>openai:equity")
    assert not board.has_edge("openai>nvidia:purchase")
    assert board.has_edge("openai>oracle:purchase")  # Oracle's $300B contract, July 2025
    board.shot("2025-08-31")

    board.move_slider_to("2025-10-31")
    assert board.has_edge("nvidia>openai:equity")
    assert board.has_edge("openai>nvidia:purchase")  # 10 GW, no dollar figure: a $0 edge
    assert "cycle" in board.classes("nvidia>openai:equity")  # nvidia -> openai -> nvidia
    assert "asOf=2025-10-31" in board.page.url
    board.shot("2025-10-31")

    board.page.mouse.move(*board.point_of(edge="nvidia>openai:equity"))
    board.page.wait_for_selector("#tooltip:not([hidden])")
    tip = board.page.inner_text("#tooltip")
    assert "$100.0B" in tip and "$100,000,000,000" in tip and "nvidia-openai-2025-09" in tip
    board.shot("2025-10-31-hover-edge")

    # Redraw after a slider move: month ends through 2025, measured in the page.
    redraw, request, move_to_paint = [], [], []
    for month_end in MOVES:
        board.move_slider_to(month_end)
        redraw.append(board.page.evaluate("window.__lastRedrawMs"))
        request.append(board.page.evaluate("window.__lastRequestMs"))
        move_to_paint.append(board.page.evaluate("window.__lastSliderToPaintMs"))
    browser.tracing.stop(path=str(SCREENSHOTS / "dashboard-slider-trace.zip"))
    figure = (
        f"dashboard redraw after a slider move, {len(redraw)} moves on the seed data: "
        f"move to painted median {statistics.median(move_to_paint):.0f} ms, "
        f"max {max(move_to_paint):.0f} ms; of which 30 ms debounce, the GraphQL request "
        f"(median {statistics.median(request):.0f} ms, max {max(request):.0f} ms) + in-place redraw "
        f"to drawn (median {statistics.median(redraw):.0f} ms, max {max(redraw):.0f} ms)"
    )
    record_property("browser_figure", figure)
    (SCREENSHOTS / "dashboard-redraw.txt").write_text(figure + "\n")
    with capsys.disabled():
        print("\n" + figure)
    board.assert_clean()


def test_the_slider_spans_the_ledgers_history_and_squeezes_the_years_of_registrations(
    browser: Any, server: Server
) -> None:
    span = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ ledgerSpan { firstEffectiveAt firstActivityAt lastEffectiveAt } }"},
    ).json()["data"]["ledgerSpan"]
    first, pivot, last = (span[k][:10] for k in span)
    board = Dashboard(browser, server)
    assert board.page.inner_text("#history-range") == (
        f"history {first} → {last} (only registrations before {pivot}: squeezed)"
    )
    assert board.page.get_attribute("#as-of", "min") == first
    assert board.page.get_attribute("#as-of", "max") == last
    board.move_slider_to(last)
    board.assert_clean()


def test_play_animates_the_web_month_by_month(browser: Any, server: Server) -> None:
    board = Dashboard(browser, server, "?asOf=2025-06-30")
    board.page.evaluate(
        """() => {  // every date the graph is drawn at, in order
          window.drawn = [];
          const graph = document.getElementById("graph");
          new MutationObserver(() => window.drawn.push(graph.dataset.asOf))
            .observe(graph, { attributes: true, attributeFilter: ["data-as-of"] });
        }"""
    )
    board.page.click("#play")
    board.page.wait_for_function("window.drawn.includes('2025-09-30')")
    board.shot("playing")
    board.page.click("#play")  # pause
    board.page.wait_for_function("document.getElementById('play').textContent === '▶'")
    drawn = board.page.evaluate("window.drawn")
    assert drawn[:3] == ["2025-07-31", "2025-08-31", "2025-09-30"]
    assert "2025-12-26" not in drawn  # paused before the end
    board.assert_clean()


def test_openai_panel_shows_its_500b_valuation_charts_exposures_and_deals(
    browser: Any, server: Server
) -> None:
    board = Dashboard(browser, server, "?asOf=2025-10-31")
    posted: list[str] = []
    board.page.on(
        "request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else None
    )

    board.click_node("openai")
    board.page.wait_for_selector("#chart-valuation canvas")
    board.page.wait_for_selector("#chart-revenue canvas")
    assert board.page.inner_text("#entity h2").startswith("OpenAI")
    assert board.page.inner_text("#entity-valuation").startswith("$500.0B")
    assert board.page.get_attribute("#entity-valuation", "title") == "$500,000,000,000"
    assert board.page.inner_text("#entity-commitment").startswith("66.0×")
    # valuation and exposure series came in one request, not one per point
    assert sum("series(" in body for body in posted) == 1
    incoming = board.page.locator("#exposures-in tr td:first-child").all_inner_texts()
    assert incoming[:3] == ["Oracle Corporation", "Microsoft Corporation", "NVIDIA Corporation"]
    assert "entity=openai" in board.page.url
    board.page.mouse.move(5, 5)  # off the graph: the node's tooltip goes
    board.page.wait_for_selector("#tooltip", state="hidden")
    board.shot("openai-panel")  # also docs/images/dashboard-2025-10-31.png

    board.page.click('a[data-stream="deal/nvidia-openai-2025-09"]')
    board.page.wait_for_selector("#tab-audit:not([hidden]) #audit-events tr[data-position]")
    history = board.page.inner_text("#audit-events")
    assert "DealAnnounced" in history and "deal/nvidia-openai-2025-09" in history
    assert "audit=deal%2Fnvidia-openai-2025-09" in board.page.url
    board.shot("deal-history")
    board.assert_clean()


def test_what_if_openai_defaults_shows_losses_and_rounds_on_the_graph(
    browser: Any, server: Server
) -> None:
    board = Dashboard(browser, server, "?asOf=2025-10-31")
    board.page.click("[data-tab=whatif]")
    board.page.check("#whatif-entities input[value=openai]")
    board.page.fill("#recovery", "0.4")
    board.page.fill("#threshold", "0.01")  # Nvidia's $60B loss is 1.2% of its $5T
    board.page.click("#whatif-run")
    board.page.wait_for_selector("#whatif-summary")
    assert board.page.inner_text("#whatif-summary").startswith("2 rounds")
    assert "defaulted" in board.classes("openai")
    assert "defaulted" in board.classes("nvidia")
    assert board.label("nvidia").endswith("defaulted, round 1")
    assert board.label("oracle").endswith("−$180.0B")  # $300B contract × (1 − 0.4)
    board.shot("what-if-openai-defaults")

    board.page.click("#whatif-clear")
    board.page.wait_for_function("!dashboard.cy.$id('openai').hasClass('defaulted')")
    board.assert_clean()


def test_a_shared_link_opens_the_same_date_basis_and_entity(browser: Any, server: Server) -> None:
    first = Dashboard(browser, server)
    first.move_slider_to("2025-10-31")
    first.page.click("#basis label:has-text('committed')")
    first.page.wait_for_selector('#graph[data-basis="COMMITTED"]')
    first.click_node("openai")
    first.page.wait_for_function("location.search.includes('entity=openai')")
    shared = first.page.url
    assert "asOf=2025-10-31" in shared and "basis=committed" in shared

    second = Dashboard(browser, server, shared[shared.index("?") :])
    second.page.wait_for_selector('#graph[data-as-of="2025-10-31"][data-basis="COMMITTED"]')
    second.page.wait_for_selector("#entity-valuation")
    assert second.page.input_value("#as-of") == "2025-10-31"
    assert second.page.is_checked("input[name=basis][value=COMMITTED]")
    assert second.page.inner_text("#entity h2").startswith("OpenAI")
    # committed basis: Nvidia's "up to $100B" has nothing committed yet
    assert second.page.evaluate("dashboard.cy.$id('nvidia>openai:equity').data('exact')") == "0"
    second.shot("shared-link")
    first.assert_clean()
    second.assert_clean()


def test_known_at_before_the_seed_was_recorded_marks_what_the_ledger_learned_later(
    browser: Any, server: Server
) -> None:
    board = Dashboard(browser, server, "?asOf=2025-10-31")
    assert board.page.is_hidden("#knowledge-marker")
    board.page.fill("#known-at", "2020-01-01T00:00:00")  # the control reads it as UTC
    board.page.wait_for_selector("#knowledge-marker:not([hidden])")
    assert "knownAt=2020-01-01T00%3A00%3A00Z" in board.page.url
    assert "recorded later" in board.page.inner_text("#knowledge-marker")
    # the ledger knew nothing then: everything drawn is what it learned later
    assert board.page.evaluate("dashboard.cy.elements().not('.later').length") == 0
    board.shot("known-at-2020")

    board.page.click("#known-now")
    board.page.wait_for_selector('#graph[data-known-at=""]')
    assert board.page.is_hidden("#knowledge-marker")
    board.assert_clean()


def test_audit_view_pages_raw_events_and_verifies_the_head(browser: Any, server: Server) -> None:
    board = Dashboard(browser, server)
    positions = "[...document.querySelectorAll('#audit-events tr[data-position]')].map(r => +r.dataset.position)"
    board.page.click("[data-tab=audit]")
    board.page.wait_for_selector("#audit-events tr[data-position='1']")
    assert board.page.evaluate(positions) == list(range(1, 21))
    row = board.page.locator("#audit-events tr[data-position='1']")
    assert row.locator("a[href^='https://']").count() == 1  # the source link
    assert len(row.locator("code").get_attribute("title").split()[1]) == 64  # the hash
    board.page.click("#audit-next")
    board.page.wait_for_selector("#audit-events tr[data-position='21']")
    assert board.page.evaluate(positions) == list(range(21, 41))
    board.page.click("#audit-prev")
    board.page.wait_for_selector("#audit-events tr[data-position='1']")

    board.page.fill("#audit-stream", "entity/openai")
    board.page.click("#audit-filter button[type=submit]")
    board.page.wait_for_function(
        "document.getElementById('audit-page').innerText.endsWith('entity/openai')"
    )
    streams = board.page.locator("#audit-events .stream").all_inner_texts()
    assert streams and set(streams) == {"entity/openai"}
    board.shot("audit")

    head = board.page.inner_text("#head-digest")
    assert head.startswith(f"{SEED_EVENTS}:")
    board.page.click("#verify")  # the first time: keeps the head in this browser
    board.page.wait_for_selector("#verify-result .ok")
    board.page.click("#verify")
    board.page.wait_for_function(
        "document.getElementById('verify-result').innerText.includes('unchanged')"
    )
    board.shot("audit-verified")

    # a digest someone kept that the ledger does not hold (same position, another hash)
    forged = Dashboard(browser, server, f"?digest={SEED_EVENTS}:{'0' * 64}")
    forged.page.click("[data-tab=audit]")
    forged.page.click("#verify")
    forged.page.wait_for_selector("#verify-result .bad")
    forged.shot("audit-verify-refused")
    board.assert_clean()
    forged.assert_clean()


def test_in_production_the_page_asks_for_a_key_and_sends_it_as_bearer(
    browser: Any, database: TestDatabase
) -> None:
    env = clean_env(
        LEDGER_DATABASE_URL=database.libpq_url, LEDGER_SEED="true", LEDGER_ENV="production"
    )
    created = run_ledger("keys", "create", "--role", "reader", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    with Server(env) as server:
        page = browser.new_page()
        page.set_viewport_size(VIEWPORT)
        elsewhere = only_the_app(page, server.port)
        sent: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                sent.append(r.headers.get("authorization")) if r.url.endswith("/graphql") else None
            ),
        )
        page.goto(f"{server.url}/?asOf=2025-10-31")
        page.wait_for_selector("#key-prompt:not([hidden])")
        page.screenshot(path=str(SCREENSHOTS / "dashboard-production-key-prompt.png"))
        page.fill("#key-input", key)
        page.click("#key-save")
        page.wait_for_selector('#graph[data-as-of="2025-10-31"]')
        assert page.evaluate("dashboard.cy.$id('nvidia>openai:equity').nonempty()")
        assert sent[0] is None and set(sent[1:]) == {f"Bearer {key}"}
        assert page.evaluate("sessionStorage.getItem('ledger-api-key')") == key
        # A reader may not page through events; the slider's range is the ledger's span still.
        span = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ ledgerSpan { firstEffectiveAt lastEffectiveAt } }"},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["data"]["ledgerSpan"]
        first, last = (span[k][:10] for k in span)
        assert page.inner_text("#history-range").startswith(f"history {first} → {last}")
        page.screenshot(path=str(SCREENSHOTS / "dashboard-production.png"))
        assert elsewhere == []
