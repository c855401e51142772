"""The relay's settings and options: named once, checked before anything is published."""

from __future__ import annotations

import pytest

from ledger import relay
from ledger.cli import main
from ledger.domain.errors import ValidationError
from ledger.settings import VARIABLES, Settings


def test_the_nats_url_is_a_setting() -> None:
    assert "LEDGER_NATS_URL" in VARIABLES
    assert Settings.from_env({"LEDGER_NATS_URL": " nats://n1:4222 "}).nats_url == "nats://n1:4222"
    assert Settings.from_env({}).nats_url is None


def test_the_commands_defaults_are_the_relays() -> None:
    defaults = {p.name: p.default for p in main.commands["relay"].params}
    assert defaults["jetstream"] == relay.DEFAULT_JETSTREAM
    assert defaults["subject_prefix"] == relay.DEFAULT_SUBJECT_PREFIX
    assert defaults["batch_size"] == relay.DEFAULT_BATCH


@pytest.mark.parametrize("prefix", ["ledger", "acme.ledger", "deal-ledger_1"])
def test_a_subject_prefix_of_plain_tokens_is_accepted(prefix: str) -> None:
    assert relay.check_subject_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "ledger.", "a..b", "ledger.*", "ledger.>", "a b"])
def test_a_subject_prefix_with_wildcards_or_empty_tokens_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError) as refused:
        relay.check_subject_prefix(prefix)
    assert refused.value.field == "--subject-prefix"


@pytest.mark.parametrize("name", ["", "LEDGER.X", "A B", "X*"])
def test_a_jetstream_name_with_dots_spaces_or_wildcards_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        relay.check_jetstream_name(name)
