"""`gamify rules check`: the four files, each valid, and consistent together; templates that
are true of the student they go to."""

from __future__ import annotations

from pathlib import Path

import pytest

from gamify.cli import main
from services.nudges import rules
from services.nudges.config import DEFAULT_NUDGES_FILE, Facts, NudgeBook
from shared.config import ConfigError, load_yaml


def test_the_four_shipped_files_are_valid_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    for service in ("points", "badges", "nudges", "contests"):
        assert f"valid {service} rules, version contract-defaults-1@" in out


@pytest.mark.parametrize("service", ["badges", "nudges", "contests"])
def test_one_file_of_each_kind_is_checked_as_that_kind(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / f"{service}.yaml"
    bad.write_text("nonsense_setting: 1\n", encoding="utf-8")
    assert main(["rules", "check", str(bad), "--service", service]) == 1
    assert f"{bad}:1: nonsense_setting" in capsys.readouterr().err


def test_a_welcome_back_gift_that_pays_nothing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = tmp_path / "rules.yaml"
    points.write_text("gift:\n  gifts: {coupon: 0}\n", encoding="utf-8")
    assert main(["rules", "check", "--points", str(points)]) == 1
    err = capsys.readouterr().err
    assert "welcome_back_gift: gift 'welcome-back' pays no points" in err


def test_a_prize_gift_unknown_to_the_points_rules_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contests = tmp_path / "contests.yaml"
    contests.write_text("prize_gifts: {1: coupon, 2: mug}\n", encoding="utf-8")
    assert main(["rules", "check", "--contests", str(contests)]) == 1
    err = capsys.readouterr().err
    assert "prize_gifts.2: gift 'mug' is unknown" in err and "coupon" not in err


def book_text(slipping: str) -> str:
    text = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8")
    head, rest = text.split("    slipping:\n", 1)
    _, tail = rest.split("    lapsed:\n", 1)
    return f"{head}    slipping:\n{slipping}    lapsed:\n{tail}"


def test_a_segment_whose_every_template_has_a_condition_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nudges.yaml"
    path.write_text(
        book_text(
            '      - id: only-runs\n        when: {min_run_before_gap: 3}\n        text: "hi"\n'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_yaml(path, NudgeBook)
    assert "templates.reminder.slipping: every variant has a `when`" in str(err.value)


def facts(run: int) -> Facts:
    return Facts(run_before_gap=run, days_missed=1, streak=0, has_last_work=False)


def test_slip_streak_goes_only_to_a_student_whose_run_before_the_gap_was_3_days() -> None:
    book = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook).model
    ids = lambda f: {t.id for t in book.variants("reminder", "slipping") if t.applies(f)}  # noqa: E731
    assert "slip-streak" not in ids(facts(1))
    assert "slip-streak" not in ids(facts(2))
    assert "slip-streak" in ids(facts(3))
    assert ids(facts(1))  # something true is always left to say


@pytest.mark.parametrize(
    ("days", "day", "run"),
    [(set(), 5, 0), ({1}, 3, 1), ({1, 2, 3}, 5, 3), ({1, 3, 4}, 6, 2), ({1, 2, 5}, 5, 2)],
)
def test_the_run_before_the_gap(days: set[int], day: int, run: int) -> None:
    assert rules.run_before_gap(days, day) == run
