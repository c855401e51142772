"""GraphiQL at /graphql works with no internet: everything it loads comes from the app."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import TestDatabase
from tests.e2e.processes import Server, clean_env


def test_graphiql_loads_only_from_the_app_and_runs_a_query(
    browser: Any, database: TestDatabase
) -> None:
    with Server(clean_env(LEDGER_DATABASE_URL=database.libpq_url)) as server:
        elsewhere: list[str] = []

        def only_the_app(route: Any) -> None:
            if urlparse(route.request.url).netloc == f"127.0.0.1:{server.port}":
                route.continue_()
            else:  # what a machine without internet would see
                elsewhere.append(route.request.url)
                route.abort()

        page = browser.new_page()
        page.route("**/*", only_the_app)
        page.goto(f"{server.url}/graphql", wait_until="networkidle")
        page.wait_for_selector(".graphiql-container")
        page.screenshot(path=str(SCREENSHOTS / "graphiql-loaded.png"))
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "document.querySelector('.graphiql-response')"
            " && document.querySelector('.graphiql-response').innerText.includes('exposureGraph')"
        )
        page.screenshot(path=str(SCREENSHOTS / "graphiql-answered.png"))
        assert elsewhere == []
