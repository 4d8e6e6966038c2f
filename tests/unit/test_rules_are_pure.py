"""The rules modules stay pure: no broker, database, metrics or network imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "asyncpg",
    "faststream",
    "aiokafka",
    "prometheus_client",
    "aiohttp",
    "socket",
    "shared.db",
    "shared.processor",
    "shared.outbox",
    "shared.service",
}
RULES_MODULES = sorted(ROOT.glob("services/*/rules.py"))


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_there_are_rules_modules_to_check() -> None:
    assert RULES_MODULES


@pytest.mark.parametrize("path", RULES_MODULES, ids=lambda p: p.parent.name)
def test_rules_import_no_io(path: Path) -> None:
    bad = {m for m in imported_modules(path) for f in FORBIDDEN if m == f or m.startswith(f + ".")}
    assert not bad, f"{path} imports {bad}"
