"""The services' SQL leaves no state on a connection beyond its transaction, so the pool hands
connections back without asyncpg's reset query (shared.db._keep_session). A statement that
would leave some (a session advisory lock, LISTEN, a session SET, a held cursor, a temporary
table that outlives its transaction) must not be written without bringing the reset back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_lock"  # the _xact_ variants end with their transaction
    r"|(?-i:\bLISTEN\b)"  # a keyword, not the word in a message
    r"|(^|;)\s*SET\s+(?!LOCAL\b)"  # UPDATE ... SET and ON CONFLICT ... SET are not at a start
    r"|\bset_config\s*\("
    r"|\bWITH\s+HOLD\b"
    r"|\bPREPARE\s+\w+\s+(AS|\()"
    r"|\bTEMP(ORARY)?\s+TABLE\b(?![^;]*ON\s+COMMIT\s+DROP)",
    re.IGNORECASE,
)


def sql_texts() -> list[tuple[str, int, str]]:
    found = []
    for pattern in ("shared/**/*.py", "services/**/*.py", "gamify/**/*.py"):
        for path in ROOT.glob(pattern):
            tree = ast.parse(path.read_text(), str(path))
            docstrings = {
                id(node.value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                ):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    for path in [*ROOT.glob("services/*/migrations/*.sql"), *ROOT.glob("shared/migrations/*.sql")]:
        found.append((str(path.relative_to(ROOT)), 1, path.read_text()))
    return found


def test_no_statement_leaves_state_on_the_connection() -> None:
    texts = sql_texts()
    assert len(texts) > 500  # the scan reached the code
    offending = [(f, line) for f, line, text in texts if SESSION_STATE.search(text)]
    assert offending == []


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_try_advisory_lock_shared(1)",
        "LISTEN gifts",
        "SET statement_timeout = 0",
        "SELECT 1; set search_path TO x",
        "SELECT set_config('x.y', '1', false)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "PREPARE q AS SELECT 1",
        "CREATE TEMP TABLE t (x int)",
    ],
)
def test_the_check_sees_state_a_session_would_keep(statement: str) -> None:
    assert SESSION_STATE.search(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT pg_advisory_xact_lock(1)",
        "UPDATE balances SET balance = 1",
        "INSERT INTO t VALUES (1) ON CONFLICT (k) DO UPDATE SET v = 1",
        "SET LOCAL statement_timeout = 0",
        "CREATE TEMP TABLE t (x int) ON COMMIT DROP",
        "UNLISTEN *",
    ],
)
def test_the_check_lets_transaction_scoped_statements_be(statement: str) -> None:
    assert not SESSION_STATE.search(statement)
