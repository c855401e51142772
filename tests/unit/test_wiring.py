"""The house's wiring, as a newcomer would look for it: one composition root, one decision
per concept, and arrows that point inward."""

from __future__ import annotations

import ast
import dataclasses
import pickle
from functools import partial
from pathlib import Path

import pytest

from api.graphql.errors import code_of
from api.workers import app_for_worker
from ledger.cli import EXIT_CODES, exit_code
from ledger.domain.errors import (
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidInput,
    LedgerError,
    NotFound,
    ProofRefused,
    ValidationError,
)
from ledger.settings import Settings
from ledger.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "ledger").rglob("*.py")) + sorted((ROOT / "api").rglob("*.py"))


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    ]


def test_the_projector_is_built_by_the_composition_root_alone() -> None:
    builders = {
        str(path.relative_to(ROOT)): lines
        for path in SOURCES
        if (lines := _calls(path, "Projector"))
    }
    assert builders == {"ledger/runtime.py": builders.get("ledger/runtime.py", [])}
    assert builders["ledger/runtime.py"]


def test_production_is_decided_by_the_settings_alone() -> None:
    deciders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in SOURCES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if '== "production"' in line or "== 'production'" in line
    ]
    assert [where.split(":")[0] for where in deciders] == ["ledger/settings.py"], deciders
    assert Settings(env="production").production and not Settings().production


def test_only_the_settings_read_ledger_variables_and_nothing_writes_them() -> None:
    for path in SOURCES:
        text = path.read_text()
        if path.name == "settings.py":
            continue
        assert 'os.environ["LEDGER_' not in text and 'environ.get("LEDGER_' not in text, path
        assert "os.environ.update" not in text, path


def test_a_worker_is_configured_by_the_parents_settings_object() -> None:
    """uvicorn spawns workers and pickles their app factory: the settings travel inside it."""
    settings = Settings(database_url="postgresql://ledger@db.example/ledger", env="production")
    shared = dataclasses.replace(settings, migrate_on_start=False, seed_on_start=False)
    factory = pickle.loads(pickle.dumps(partial(app_for_worker, shared, "/tmp/metrics")))
    assert factory.args == (shared, "/tmp/metrics")
    assert factory.args[0].production and not factory.args[0].should_migrate_on_start


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationError("asOf", "bad"), 2),
        (InvalidInput("name", "too long"), 2),
        (NotFound("no such entity"), 1),
        (DatabaseUnavailable("cannot reach the database"), 1),
        (DatabaseRefused("refusing to drop the events table"), 1),
        (ProofRefused("rootHash", "the proof leads elsewhere"), 1),
        (LedgerError("no"), 1),
    ],
)
def test_every_core_error_has_one_exit_code(error: LedgerError, code: int) -> None:
    assert exit_code(error) == code
    assert EXIT_CODES[-1] == (LedgerError, 1)  # the catch-all row comes last


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationError("asOf", "bad"), "BAD_USER_INPUT"),
        (NotFound("no such entity"), "NOT_FOUND"),
        (DatabaseUnavailable("cannot reach the database"), "UNAVAILABLE"),
        (LedgerError("no"), "LEDGER_ERROR"),
    ],
)
def test_every_core_error_has_one_graphql_code(error: LedgerError, code: str) -> None:
    assert code_of(error) == code


def test_a_database_url_of_another_kind_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError) as refused:
        make_engine("mysql://ledger@localhost/ledger")
    assert refused.value.field == "LEDGER_DATABASE_URL"
    assert "needs PostgreSQL" in str(refused.value)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_arrows_point_inward() -> None:
    """The core never imports the web app; the domain imports no framework or driver."""
    for path in sorted((ROOT / "ledger").rglob("*.py")):
        names = _imports(path)
        assert not any(n == "api" or n.startswith("api.") for n in names), path
        if "domain" in path.parts:
            frameworks = ("sqlalchemy", "psycopg", "litestar", "strawberry", "alembic")
            assert not any(n.split(".")[0] in frameworks for n in names), path


def test_no_edge_knows_the_drivers_errors() -> None:
    edges = sorted((ROOT / "api").rglob("*.py")) + sorted((ROOT / "ledger" / "cli").rglob("*.py"))
    for path in edges:
        names = _imports(path)
        assert not any(n.startswith(("sqlalchemy.exc", "psycopg.errors")) for n in names), path
        assert "sqlalchemy.exc" not in path.read_text(), path


def test_modules_stay_small_or_say_why() -> None:
    """About 400 lines at most, unless the module's docstring says it is one concept."""
    for path in SOURCES:
        lines = path.read_text().count("\n")
        if lines > 420:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert "one concept" in doc, f"{path.relative_to(ROOT)}: {lines} lines"
