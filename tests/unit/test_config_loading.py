"""Rules files: errors name the file, the line and the fix; a bad change keeps the old rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.points.config import DEFAULT_RULES_FILE, PointsRules
from shared.config import ConfigError, Watched, load_yaml


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rules_are_the_contract_defaults() -> None:
    loaded = load_yaml(DEFAULT_RULES_FILE, PointsRules)
    assert loaded.model.checkin.points == 10
    assert loaded.version.startswith("contract-defaults-1@")


@pytest.mark.parametrize("text", ["", "# nothing\n", "\n\n"])
def test_an_empty_file_is_refused_naming_the_fix(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_yaml(path, PointsRules)
    assert str(err.value).startswith(f"{path}:1: the file is empty")
    assert "`{}`" in str(err.value)


def test_an_explicit_empty_mapping_means_all_defaults_with_a_content_version(
    tmp_path: Path,
) -> None:
    loaded = load_yaml(write(tmp_path, "{}  # every default, on purpose\n"), PointsRules)
    assert loaded.model.checkin.points == 10
    assert len(loaded.version) == 12


def test_a_wrong_type_names_file_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "version: v2\n\ncheckin:\n  points: ten\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, PointsRules)
    assert str(err.value).startswith(f"{path}:4: checkin.points:")
    assert "write a whole number" in str(err.value)


def test_a_misspelt_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "checkin:\n  points: 10\n  pionts: 12\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, PointsRules)
    assert f"{path}:3: checkin.pionts:" in str(err.value)
    assert "check its spelling" in str(err.value)


def test_a_negative_amount_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":2: checkin.points: .*greater than or equal to 0"):
        load_yaml(write(tmp_path, "checkin:\n  points: -5\n"), PointsRules)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "checkin:\n  points: [10\nversion: x\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: not valid YAML"):
        load_yaml(path, PointsRules)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_yaml(tmp_path / "absent.yaml", PointsRules)


def test_watched_file_reloads_and_keeps_old_rules_when_the_new_ones_are_bad(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "version: a\ncheckin:\n  points: 10\n")
    loads: list[str] = []
    errors: list[ConfigError] = []
    watched = Watched(path, PointsRules, lambda loaded: loads.append(loaded.version), errors.append)
    assert watched.refresh().model.checkin.points == 10

    path.write_text("version: b\ncheckin:\n  points: 15\n", encoding="utf-8")
    os.utime(path, (1, 1))  # a different mtime even within the same clock tick
    assert watched.refresh().model.checkin.points == 15

    path.write_text("version: c\ncheckin:\n  points: lots\n", encoding="utf-8")
    os.utime(path, (2, 2))
    assert watched.refresh().version.startswith("b@")
    assert [v.split("@")[0] for v in loads] == ["a", "b"]
    assert len(errors) == 1 and ":3: checkin.points" in str(errors[0])


def test_the_version_changes_with_the_content_even_under_the_same_label(tmp_path: Path) -> None:
    first = load_yaml(write(tmp_path, "version: ops-7\ncheckin:\n  points: 10\n"), PointsRules)
    second = load_yaml(write(tmp_path, "version: ops-7\ncheckin:\n  points: 99\n"), PointsRules)
    unlabelled = load_yaml(write(tmp_path, "checkin:\n  points: 99\n"), PointsRules)
    assert first.version.startswith("ops-7@") and second.version.startswith("ops-7@")
    assert first.version != second.version
    assert "@" not in unlabelled.version and len(unlabelled.version) == 12


def test_a_camp_override_changes_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        (
            "checkin:\n  points: 12\nshare:\n  daily_cap: 6\n"
            "camps:\n  long-camp:\n    streak:\n      milestones: [30, 60, 90]\n"
            "    checkin:\n      points: 15\n"
        ),
    )
    rules = load_yaml(path, PointsRules).model
    long = rules.for_camp("long-camp")
    assert long.streak.milestones == [30, 60, 90] and long.streak.points == 50
    assert long.checkin.points == 15
    assert long.share.daily_cap == 6
    other = rules.for_camp("other")
    assert other.streak.milestones == [7, 14, 21] and other.checkin.points == 12


def test_a_makeup_window_in_the_points_rules_says_where_it_went(tmp_path: Path) -> None:
    path = write(tmp_path, "checkin:\n  points: 10\n  makeup_window_days: 3\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, PointsRules)
    assert f"{path}:2: checkin:" in str(err.value)
    assert "GAMIFY_MAKEUP_WINDOW_DAYS" in str(err.value)


def test_a_bad_camp_override_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "camps:\n  c1:\n    streak:\n      milestones: [14, 7]\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path, PointsRules)
    assert f"{path}:4: camps.c1.streak.milestones:" in str(err.value)
    assert "increasing order" in str(err.value)


def test_gamify_rules_check_accepts_the_shipped_file_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gamify.cli import main

    assert main(["rules", "check", str(DEFAULT_RULES_FILE)]) == 0
    assert "valid points rules, version contract-defaults-1@" in capsys.readouterr().out
    bad = write(tmp_path, "share:\n  points: -2\n")
    assert main(["rules", "check", str(bad)]) == 1
    assert f"{bad}:2: share.points" in capsys.readouterr().err
