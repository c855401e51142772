"""Settings come from LEDGER_* variables only, and a mistyped one is named rather than ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.domain.errors import ValidationError
from ledger.settings import Settings


def test_no_database_url_means_the_embedded_server_which_migrates_on_start() -> None:
    settings = Settings.from_env({})
    assert settings.embedded and settings.should_migrate_on_start


def test_a_named_server_is_used_and_not_migrated_unless_asked() -> None:
    settings = Settings.from_env({"LEDGER_DATABASE_URL": "postgresql://db/ledger"})
    assert not settings.embedded and not settings.should_migrate_on_start
    asked = Settings.from_env(
        {"LEDGER_DATABASE_URL": "postgresql://db/ledger", "LEDGER_MIGRATE_ON_START": "true"}
    )
    assert asked.should_migrate_on_start


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {"LEDGER_PORT": "9000", "LEDGER_DATA_DIR": "/tmp/x", "LEDGER_APP_ROLE": ""}
    )
    assert settings.port == 9000 and settings.data_dir == Path("/tmp/x")
    assert settings.app_role == ""


@pytest.mark.parametrize(
    "name,value",
    [
        ("LEDGER_PORT", "eighty"),
        ("LEDGER_MIGRATE_ON_START", "maybe"),
        ("LEDGER_ENV", "staging"),
        ("LEDGER_APP_ROLE", "app; DROP TABLE events"),
        ("LEDGER_DATABSE_URL", "postgresql://typo"),
    ],
)
def test_a_bad_or_unknown_variable_is_named(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings.from_env({name: value})
    assert info.value.field == name
