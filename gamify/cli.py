"""`gamify`: the one command-line entry point (dev, send, tail, rules check, points explain,
simulate, report, audit)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gamify import asyncapi, bus, report_command, rules_check
from gamify.dev import current_database_url
from shared.config import ConfigError, load_yaml


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gamify", description=__doc__)
    sub = p.add_subparsers(title="commands")

    dev = sub.add_parser("dev", help="run the broker, PostgreSQL and every service locally")
    dev.add_argument(
        "--kafka",
        choices=["embedded", "apache"],
        default="embedded",
        help="the broker: the embedded one (memory, no Java; the default) or Apache Kafka"
        " (from its jars: needs Java 17+ and Maven; its log is kept in --home)",
    )
    dev.add_argument("--kafka-port", type=int, default=9092)
    dev.add_argument(
        "--http-base-port",
        type=int,
        default=None,
        help="points gets this port, badges +1, nudges +2, contests +3 (default 9101-9104)",
    )
    dev.add_argument(
        "--home",
        type=Path,
        default=Path.home() / ".gamify",
        help="where the database and the broker log live (default ~/.gamify)",
    )
    dev.add_argument("--partitions", type=int, default=3)
    dev.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the embedded database of the last start (default: a fresh one, since the"
        " embedded broker's topics start empty)",
    )
    dev.set_defaults(run=_dev)

    bus.add_parsers(sub)

    rules = sub.add_parser("rules", help="rules files")
    rules_sub = rules.add_subparsers(title="rules commands")
    rules_check.add_parser(rules_sub)
    asyncapi.add_parser(sub)

    points = sub.add_parser("points", help="the points ledger")
    points_sub = points.add_subparsers(title="points commands")
    explain = points_sub.add_parser(
        "explain", help="why a student has the points they have, entry by entry"
    )
    explain.add_argument("student")
    explain.add_argument("--camp", default=None)
    explain.set_defaults(run=_points_explain)

    sim = sub.add_parser(
        "simulate",
        help="play a seeded camp through the services (embedded broker and database) and report",
    )
    sim.add_argument("--students", type=int, default=1000)
    sim.add_argument("--days", type=int, default=21)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument(
        "--mix",
        default=None,
        help="share of each kind of student, e.g. daily=0.35,occasional=0.3,lapsing=0.25,never=0.1",
    )
    sim.add_argument("--rules", type=Path, help="points rules file (default: the shipped one)")
    sim.add_argument("--badges", type=Path, help="badges file")
    sim.add_argument("--nudges", type=Path, help="nudges file")
    sim.add_argument("--contests", type=Path, help="contests file")
    sim.add_argument(
        "--compare", type=Path, help="play the same camp again with this points rules file"
    )
    sim.add_argument(
        "--compare-nudges", type=Path, help="play the same camp again with this nudges file"
    )
    sim.add_argument(
        "--html", type=Path, default=Path("gamify-report.html"), help="where the HTML report goes"
    )
    sim.add_argument("--bootstrap", help="use this Kafka instead of an embedded broker")
    sim.add_argument(
        "--admin-database-url", help="use this PostgreSQL (it creates a database per run)"
    )
    sim.add_argument(
        "--keep",
        action="store_true",
        help="keep the simulation's database for `gamify report` (on --admin-database-url's"
        " server, else on a running `gamify dev`'s)",
    )
    sim.add_argument("--quiet", action="store_true", help="no progress output")
    sim.add_argument("--lang", choices=("zh", "en"), default="zh", help="report labels")
    sim.set_defaults(run=_simulate)

    audit = sub.add_parser(
        "audit",
        help="recompute everything from the input topics and compare with the services' state",
    )
    audit.add_argument("--camp", help="only this camp")
    audit.add_argument("--rules", type=Path, help="the points rules file in force")
    audit.add_argument("--badges", type=Path, help="the badges file in force")
    audit.add_argument("--bootstrap", default=None)
    audit.set_defaults(run=_audit)

    report = sub.add_parser("report", help="the growth report of a camp, from the database")
    report.add_argument("camp")
    report.add_argument("--html", type=Path, help="also write the report as an HTML file")
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    report.add_argument(
        "--from", dest="first", type=date.fromisoformat, help="first date (default: camp start)"
    )
    report.add_argument(
        "--to", dest="last", type=date.fromisoformat, help="last date (default: today)"
    )
    report.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        help="judge as of this moment (RFC 3339; default: now, or the services' clock if ahead)",
    )
    report.add_argument("--student", help="the personal report (个人成长报告) of this student")
    report.add_argument("--lang", choices=("zh", "en"), default="zh", help="labels (default: zh)")
    where = report.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        help="the database to read (default: GAMIFY_DATABASE_URL, else gamify dev's)",
    )
    where.add_argument(
        "--simulation",
        nargs="?",
        const="A",
        metavar="RUN",
        help="read the simulation kept by `gamify simulate --keep` on gamify dev's PostgreSQL"
        " (run A, or B of a comparison)",
    )
    report.set_defaults(run=report_command.run)
    return p


def _mix(text: str | None) -> dict[str, float]:
    from gamify.simulate.behaviour import DEFAULT_MIX, PROFILES

    if not text:
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in PROFILES:
            raise ValueError(
                f"--mix: {name.strip()!r} is not a kind of student ({', '.join(PROFILES)})"
            )
        mix[name.strip()] = float(value)
    if sum(mix.values()) <= 0:
        raise ValueError("--mix: the shares must add up to more than 0")
    return mix


def _simulate(args: argparse.Namespace) -> int:
    from gamify.simulate.player import CampPlan
    from gamify.simulate.run import RuleSet, simulate
    from services.badges.config import BadgeBook
    from services.contests.config import ContestBook
    from services.nudges.config import NudgeBook
    from services.points.config import PointsRules

    checks: list[tuple[Path | None, type[Any]]] = [
        (args.rules, PointsRules),
        (args.compare, PointsRules),
        (args.badges, BadgeBook),
        (args.nudges, NudgeBook),
        (args.compare_nudges, NudgeBook),
        (args.contests, ContestBook),
    ]
    try:
        for path, model in checks:
            if path is not None:
                load_yaml(path, model)
        mix = _mix(args.mix)
    except (ConfigError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    if not 1 <= args.days <= 366 or args.students < 1:
        print("--days takes 1..366 and --students at least 1", file=sys.stderr)
        return 2
    admin_url = args.admin_database_url
    on_dev = args.keep and admin_url is None
    if on_dev:
        admin_url = _dev_admin_url()
        if admin_url is None:
            print(
                "gamify simulate --keep: the database must outlive the run; start `gamify dev`"
                " (the simulation's database goes on its PostgreSQL) or give"
                " --admin-database-url",
                file=sys.stderr,
            )
            return 2
    base = RuleSet("A", args.rules, args.badges, args.nudges, args.contests)
    runs = [base]
    if args.compare or args.compare_nudges:
        runs.append(
            RuleSet(
                "B",
                args.compare or args.rules,
                args.badges,
                args.compare_nudges or args.nudges,
                args.contests,
            )
        )
    plan = CampPlan(
        students=args.students, days=args.days, lessons=args.days, seed=args.seed, mix=mix
    )
    played = simulate(
        plan,
        runs,
        args.html,
        bootstrap=args.bootstrap,
        admin_url=admin_url,
        quiet=args.quiet,
        keep=args.keep,
        lang=args.lang,
    )
    if args.keep:
        for rules, (_, url) in zip(runs, played, strict=True):
            where = f"--simulation {rules.label}" if on_dev else f"--database-url '{url}'"
            print(f"[{rules.label}] kept; its report: gamify report {plan.camp_id} {where}")
    return 0


def _dev_admin_url() -> str | None:
    """The maintenance database of a running `gamify dev`'s PostgreSQL, if one answers."""
    from gamify.dev import DEV_DATABASE_FILE
    from shared.embedded import database_url

    if not DEV_DATABASE_FILE.exists():
        return None
    admin = database_url(DEV_DATABASE_FILE.read_text().strip(), "postgres")

    async def answers() -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(admin, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return admin if asyncio.run(answers()) else None


def _audit(args: argparse.Namespace) -> int:
    from gamify.audit import Auditor

    bootstrap, prefix = bus.bootstrap_of(args.bootstrap)
    try:
        from shared.settings import load_settings

        settings = load_settings()
        auditor = Auditor(
            bootstrap,
            prefix,
            current_database_url(),
            args.rules,
            args.badges,
            args.camp,
            settings.makeup_window_days,
            settings.leave_max_days,
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    result = asyncio.run(auditor.run())
    for difference in result.differences:
        print(difference)
    print(result.summary())
    return 1 if result.differences else 0


def _points_explain(args: argparse.Namespace) -> int:
    from services.points.explain import explain

    print(asyncio.run(explain(current_database_url(), args.student, args.camp)))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from gamify.dev import run_dev

    return run_dev(
        args.kafka_port,
        args.http_base_port,
        args.home.expanduser(),
        args.partitions,
        keep_data=args.keep_data,
        kafka_kind=args.kafka,
    )


if __name__ == "__main__":
    raise SystemExit(main())
