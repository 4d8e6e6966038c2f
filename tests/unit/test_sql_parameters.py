"""Values reach SQL only as parameters ($1, $2, ...): an f-string may splice in nothing but a
schema or database name (checked against an identifier pattern) or a constant SQL fragment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.db import check_identifier

ROOT = Path(__file__).resolve().parents[2]
SQL_WORDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "WITH")
# identifiers and constant fragments
SPLICEABLE = {"schema", "name", "SENT_NUDGES", "PAID_SHARES", "ACCEPTED_REDEMPTIONS"}
FRAGMENT_BUILDERS = {"students_rows"}  # called with literals only: a constant fragment


def spliced_sql() -> list[tuple[str, int, str]]:
    found = []
    for path in [
        *ROOT.glob("shared/**/*.py"),
        *ROOT.glob("services/**/*.py"),
        *ROOT.glob("gamify/**/*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if not text.lstrip().upper().startswith(SQL_WORDS):
                continue
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and not _constant_fragment(part.value):
                    found.append(
                        (str(path.relative_to(ROOT)), node.lineno, ast.unparse(part.value))
                    )
    return found


def _constant_fragment(value: ast.expr) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in FRAGMENT_BUILDERS
        and all(isinstance(a, ast.Constant) for a in value.args)
        and not value.keywords
    )


def test_sql_f_strings_splice_only_identifiers_and_constant_fragments() -> None:
    spliced = spliced_sql()
    assert spliced, "the scan found no SQL at all: it is broken"
    offending = [s for s in spliced if s[2] not in SPLICEABLE]
    assert offending == [], "values must be passed as $n parameters"


@pytest.mark.parametrize("bad", ['x"; DROP TABLE ledger; --', "Points", "1abc", "", "a b"])
def test_spliced_identifiers_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        check_identifier(bad)
    assert check_identifier("points") == "points"
