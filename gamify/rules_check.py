"""`gamify rules check`: every rules file valid on its own, and the four consistent together
(a gift that a message or a prize promises must be worth points)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.contests.config import DEFAULT_CONTESTS_FILE, ContestBook
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from shared.config import ConfigError, Loaded, load_yaml

FILES: dict[str, tuple[type[BaseModel], Path, str]] = {
    "points": (PointsRules, DEFAULT_RULES_FILE, "GAMIFY_RULES_FILE"),
    "badges": (BadgeBook, DEFAULT_BADGES_FILE, "GAMIFY_BADGES_FILE"),
    "nudges": (NudgeBook, DEFAULT_NUDGES_FILE, "GAMIFY_NUDGES_FILE"),
    "contests": (ContestBook, DEFAULT_CONTESTS_FILE, "GAMIFY_CONTESTS_FILE"),
}


def add_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="validate rules files without running anything",
        description="Validate one file (FILE --service S), or the four together: each file"
        " given by its option, the shipped one otherwise, with the checks across files.",
    )
    check.add_argument("file", type=Path, nargs="?", help="one file, of --service's kind")
    check.add_argument("--service", choices=list(FILES), help="the kind of FILE (default: points)")
    for service in FILES:
        check.add_argument(f"--{service}", type=Path, metavar="FILE", help=f"the {service} file")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.file is not None:
        paths = {args.service or "points": args.file}
    else:
        paths = {s: getattr(args, s) or default for s, (_, default, _) in FILES.items()}
    loaded: dict[str, Loaded[Any]] = {}
    failed = False
    for service, path in paths.items():
        try:
            loaded[service] = load_yaml(path, FILES[service][0])
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            failed = True
            continue
        print(f"{path}: valid {service} rules, version {loaded[service].version}")
    if failed:
        return 1
    if len(loaded) == 1:
        return 0
    problems = cross_file_problems(loaded)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def cross_file_problems(loaded: dict[str, Loaded[Any]]) -> list[str]:
    """The welcome-back gift that every welcome-back message promises must pay points; a prize
    gift must be known to the points rules (at 0 it is a prize the platform delivers itself,
    such as a coupon): otherwise the student is told of a gift that never comes."""
    points: PointsRules = loaded["points"].model
    promised: list[tuple[str, str, str | None]] = []  # (where, gift id, camp or None)
    nudges: NudgeBook = loaded["nudges"].model
    welcome = (f"{loaded['nudges'].path}: welcome_back_gift", nudges.welcome_back_gift, None)
    promised.append(welcome)
    contests: ContestBook = loaded["contests"].model
    for rank, gift in contests.prize_gifts.items():
        promised.append((f"{loaded['contests'].path}: prize_gifts.{rank}", gift, None))
    for camp_id, own in contests.camps.items():
        for rank, gift in (own.prize_gifts or {}).items():
            where = f"{loaded['contests'].path}: camps.{camp_id}.prize_gifts.{rank}"
            promised.append((where, gift, camp_id))
    problems = []
    for where, gift, camp in promised:
        gifts = points.for_camp(camp or "").gift
        price = gifts.gifts.get(gift) if gifts.enabled else None
        if (where, gift, camp) == welcome and not price:
            problems.append(
                f"{where}: gift {gift!r} pays no points under {loaded['points'].path}, yet"
                " every welcome-back message promises it (give it a price above 0 in"
                " gift.gifts, or name a gift that has one)"
            )
        elif price is None:
            problems.append(
                f"{where}: gift {gift!r} is unknown to {loaded['points'].path} (list it in"
                " gift.gifts: its points, or 0 for a prize the platform delivers itself)"
            )
    return problems
