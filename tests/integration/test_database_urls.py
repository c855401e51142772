"""The libpq URL forms a replicated deployment is configured with work as written: the
multi-host forms (which SQLAlchemy's own URL parser refuses) and SQLAlchemy's driver names."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import text

from ledger.domain.errors import ValidationError
from ledger.store.engine import display_url, libpq_url, make_engine, normalise_url
from tests.conftest import TestDatabase


def _hosts(database: TestDatabase) -> tuple[str, str, str]:
    """(host, port, dbname) of the test server, the host as a URL spells it: the embedded
    server is reached by a Unix socket directory, percent-encoded in a URL's host part."""
    params = conninfo_to_dict(database.libpq_url)
    host = str(params.get("host", "127.0.0.1"))
    return quote(host, safe=""), str(params.get("port", "5432")), str(params["dbname"])


@pytest.mark.parametrize("form", ["comma", "params"])
def test_both_multi_host_forms_reach_the_server_that_answers(
    database: TestDatabase, form: str
) -> None:
    host, port, dbname = _hosts(database)
    dead = "127.0.0.1:1"  # nothing listens: libpq moves on to the next host
    url = (
        f"postgresql://postgres@{dead},{host}:{port}/{dbname}?target_session_attrs=read-write"
        if form == "comma"
        else f"postgresql://postgres@/{dbname}?host=127.0.0.1,{host}&port=1,{port}"
        "&target_session_attrs=read-write"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == dbname
            assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
        assert libpq_url(engine) == url
    finally:
        engine.dispose()


def test_sqlalchemy_driver_names_and_postgres_scheme_are_accepted() -> None:
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    assert normalise_url("postgres://u@h1:1,h2:2/db") == "postgresql://u@h1:1,h2:2/db"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/db", "needs PostgreSQL"),
        ("not a url", "postgresql:// URL"),
        ("postgresql://u@h/db?nonsense_option=1", "not a libpq URL"),
    ],
)
def test_a_url_that_is_not_postgresql_is_refused_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        normalise_url(url, "LEDGER_READ_DATABASE_URL")
    assert refused.value.field == "LEDGER_READ_DATABASE_URL"
    assert says in str(refused.value)


def test_a_password_is_never_displayed(database: TestDatabase) -> None:
    engine = make_engine("postgresql://u:secret@127.0.0.1:1,127.0.0.1:2/db")
    try:
        shown = display_url(engine)
        assert "secret" not in shown and "127.0.0.1" in shown
    finally:
        engine.dispose()


def test_the_url_s_own_options_are_kept_beside_the_ledger_s(database: TestDatabase) -> None:
    # e.g. synchronous_commit for a deployment that chooses it (docs/scale-out.md)
    host, port, dbname = _hosts(database)
    engine = make_engine(
        f"postgresql://postgres@{host}:{port}/{dbname}?options=-c%20work_mem%3D7MB"
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW work_mem")).scalar() == "7MB"
            assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
    finally:
        engine.dispose()
