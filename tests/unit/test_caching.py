"""Which GraphQL requests have final answers (pure: the document and its variables)."""

from __future__ import annotations

import datetime as dt

from api.caching import latest_known_at

PAST = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_a_read_stating_both_times_has_its_known_at() -> None:
    query = '{ entity(id: "openai", asOf: "2025-10-31", knownAt: "2025-01-01") { name } }'
    assert latest_known_at(query, None, None) == PAST


def test_the_latest_known_at_of_several_root_fields_counts() -> None:
    query = """query($k: DateTime) {
      a: entity(id: "a", asOf: "2025-10-31", knownAt: "2024-01-01") { name }
      b: series(entityId: "a", metric: VALUATION, from: "2024-01-01", to: "2025-01-01",
                knownAt: $k) { value }
    }"""
    assert latest_known_at(query, {"k": "2025-01-01T00:00:00Z"}, None) == PAST


def test_missing_times_mutations_and_unknown_fields_are_not_final() -> None:
    assert latest_known_at('{ entity(id: "a", asOf: "2025-01-01") { name } }', None, None) is None
    assert (
        latest_known_at('{ entity(id: "a", knownAt: "2025-01-01") { name } }', None, None) is None
    )
    assert latest_known_at("{ ledgerHead { position } }", None, None) is None
    assert latest_known_at("mutation { x }", None, None) is None
    assert latest_known_at("{ not valid", None, None) is None
    query = 'query($k: DateTime) { entity(id: "a", asOf: "2025-01-01", knownAt: $k) { name } }'
    assert latest_known_at(query, {}, None) is None
    assert latest_known_at(query, {"k": "2025-01-01T00:00"}, None) is None  # naive: refused


def test_the_named_operation_is_the_one_judged() -> None:
    query = """
      query Past { entity(id: "a", asOf: "2025-01-01", knownAt: "2025-01-01") { name } }
      query Now { entity(id: "a") { name } }
    """
    assert latest_known_at(query, None, "Past") == PAST
    assert latest_known_at(query, None, "Now") is None
    assert latest_known_at(query, None, None) is None
