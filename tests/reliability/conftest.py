"""What the reliability tests share: their sizes, their seed, and waiting on a condition.

Sizes come from ``LEDGER_TEST_RELIABILITY_*`` variables with small defaults for CI; the larger
run of docs/reliability.md sets them to the sizes of the issue. (The ``LEDGER_TEST_`` prefix
is the one ``Settings`` ignores, so the variables never trip the ledger's "unknown setting".)

Every test draws its randomness from one seed: ``LEDGER_TEST_RELIABILITY_SEED`` when set, a
fresh one otherwise. A failing test prints it, so the run can be repeated exactly.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

T = TypeVar("T")

PREFIX = "LEDGER_TEST_RELIABILITY_"


def size(name: str, default: int) -> int:
    """``LEDGER_TEST_RELIABILITY_<name>``, or ``default`` (the CI size)."""
    text = os.environ.get(PREFIX + name, "").strip()
    return int(text) if text else default


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = 60, interval: float = 0.005
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after
    ``timeout`` seconds. For states another process reaches, which nothing announces."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return result


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> Iterator[int]:
    """The test's seed, shown in the report if the test fails."""
    text = os.environ.get(PREFIX + "SEED", "").strip()
    value = int(text) if text else random.SystemRandom().randrange(2**32)
    request.node.stash[SEED_KEY] = value
    yield value


SEED_KEY = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and SEED_KEY in item.stash:
        value = item.stash[SEED_KEY]
        report.sections.append(
            ("reliability seed", f"seed {value}: rerun with {PREFIX}SEED={value}")
        )
    return report
