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


def test_the_checkpoint_key_is_named_or_made_in_the_embedded_data_directory() -> None:
    named = Settings.from_env(
        {"LEDGER_DATABASE_URL": "postgresql://db/l", "LEDGER_CHECKPOINT_KEY_FILE": "/k/key"}
    )
    assert named.checkpoint_key_path == Path("/k/key")
    assert (
        Settings.from_env({"LEDGER_DATABASE_URL": "postgresql://db/l"}).checkpoint_key_path is None
    )
    embedded = Settings.from_env({"LEDGER_DATA_DIR": "/tmp/x"})
    assert embedded.checkpoint_key_path == Path("/tmp/x/checkpoint.key")
    assert embedded.origin == "localhost/deal-ledger"


def test_an_origin_with_a_space_or_plus_is_refused_naming_the_setting() -> None:
    assert Settings.from_env({"LEDGER_ORIGIN": "ledger.example.org/deals"}).origin == (
        "ledger.example.org/deals"
    )
    for bad in ("two words", "a+b"):
        with pytest.raises(ValidationError) as caught:
            Settings.from_env({"LEDGER_ORIGIN": bad})
        assert caught.value.field == "LEDGER_ORIGIN"


def test_the_signing_key_is_made_once_when_embedded_and_must_match_the_origin(
    tmp_path: Path,
) -> None:
    from ledger.signing import signing_key

    settings = Settings(data_dir=tmp_path)
    key = signing_key(settings)
    assert key is not None and key.name == settings.origin
    assert signing_key(settings) == key  # read back, not made again
    assert (tmp_path / "checkpoint.key").stat().st_mode & 0o077 == 0
    other = Settings(data_dir=tmp_path, origin="ledger.example.org/deals")
    with pytest.raises(ValidationError) as caught:
        signing_key(other)
    assert (
        caught.value.field == "LEDGER_CHECKPOINT_KEY_FILE"
        and "LEDGER_ORIGIN" in caught.value.reason
    )
    missing = Settings(database_url="postgresql://db/l", checkpoint_key_file=tmp_path / "none")
    with pytest.raises(ValidationError, match="keygen"):
        signing_key(missing)


def test_every_variable_fills_one_field_and_is_in_the_operations_settings_table() -> None:
    from dataclasses import fields

    from ledger.settings import FIELDS, VARIABLES

    assert set(FIELDS) == set(VARIABLES)
    assert set(FIELDS.values()) == {f.name for f in fields(Settings)}
    operations = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    table = operations[operations.index("## Settings") :]
    missing = [name for name in VARIABLES if f"| `{name}` |" not in table]
    assert not missing, f"docs/operations.md's settings table lacks {missing}"


def test_the_readme_says_the_browser_tests_need_chromium() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "apt-get install chromium" in readme


def test_cors_origins_are_a_comma_separated_list_and_unset_means_none() -> None:
    assert Settings.from_env({}).cors_origins == ()
    settings = Settings.from_env(
        {"LEDGER_CORS_ORIGINS": " https://dash.example.com/ , http://localhost:5173,"}
    )
    assert settings.cors_origins == ("https://dash.example.com", "http://localhost:5173")
    with pytest.raises(ValidationError, match="LEDGER_CORS_ORIGINS"):
        Settings.from_env({"LEDGER_CORS_ORIGINS": "dash.example.com"})
