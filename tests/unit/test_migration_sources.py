"""A migration is frozen once released: it never reads, imports or patches another
migration's source, so editing an old file can never silently change what a later one does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VERSIONS = sorted((Path(__file__).parents[2] / "migrations" / "versions").glob("[0-9]*.py"))


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.stem)
def test_a_migration_stands_alone(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "importlib" not in imported
    assert not any(name.startswith(("migrations", ".")) for name in imported), imported
    assert VERSIONS, "no migrations found"
