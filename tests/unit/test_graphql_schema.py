"""The published schema file is the schema the code serves."""

from __future__ import annotations

from api.graphql.schema import SDL_PATH, export_sdl


def test_api_schema_graphql_matches_the_code() -> None:
    assert SDL_PATH.read_text() == export_sdl(), (
        "api/schema.graphql is stale: run `python -m api.graphql` and commit it"
    )
