"""`gamify simulate`: one seeded camp (or the same camp under two rule sets) played through
the four services on real parts, then the growth report."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gamify.report import Report, build_report
from gamify.report_html import render_html
from gamify.report_text import render_text
from gamify.simulate.player import CampPlan, Player
from gamify.simulate.progress import Progress
from gamify.simulate.stack import Infrastructure, ServiceSet


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules files of one run (None: the shipped file)."""

    label: str
    points: Path | None = None
    badges: Path | None = None
    nudges: Path | None = None
    contests: Path | None = None

    def env(self) -> dict[str, Path]:
        files = {
            "GAMIFY_RULES_FILE": self.points,
            "GAMIFY_BADGES_FILE": self.badges,
            "GAMIFY_NUDGES_FILE": self.nudges,
            "GAMIFY_CONTESTS_FILE": self.contests,
        }
        return {k: v.resolve() for k, v in files.items() if v is not None}


async def play_once(
    infra: Infrastructure,
    plan: CampPlan,
    rules: RuleSet,
    log_dir: Path,
    quiet: bool,
    keep: bool = False,
) -> tuple[Report, str]:
    """The report of one run, and the URL of the database it ran on."""
    place = await infra.new_place(rules.label, kept=keep)
    services = ServiceSet(place, rules.env(), log_dir)
    if not quiet:
        print(f"[{rules.label}] starting the services ...", file=sys.stderr, flush=True)
    await services.start()
    progress = Progress(plan.days, quiet=quiet)
    try:
        async with Player(place.bootstrap, place.prefix, place.database_url, plan, progress) as p:
            await p.play()
    finally:
        progress.close()
        services.stop()
    conn = await asyncpg.connect(place.database_url)
    try:
        return await build_report(conn, plan.camp_id), place.database_url
    finally:
        await conn.close()


def simulate(
    plan: CampPlan,
    runs: list[RuleSet],
    html_path: Path | None,
    bootstrap: str | None = None,
    admin_url: str | None = None,
    home: Path | None = None,
    quiet: bool = False,
    keep: bool = False,
    lang: str = "zh",
) -> list[tuple[Report, str]]:
    """Play `plan` under each rule set: each run's report and database URL. `keep`: the
    databases stay (admin_url's server must outlive the run)."""
    home = home or Path.home() / ".gamify"
    home.mkdir(parents=True, exist_ok=True)
    infra = Infrastructure(bootstrap, admin_url, home)
    started = time.monotonic()
    infra.start()
    try:
        played = [asyncio.run(play_once(infra, plan, r, home, quiet, keep)) for r in runs]
    finally:
        infra.stop()
    reports = [report for report, _ in played]
    labels = (runs[0].label, runs[1].label if len(runs) > 1 else "")
    other = reports[1] if len(reports) > 1 else None
    print(render_text(reports[0], other, labels, lang))
    if html_path is not None:
        html_path.write_text(render_html(reports[0], other, labels, lang), encoding="utf-8")
        print(f"\nHTML report: {html_path}")
    took = time.monotonic() - started
    print(f"simulated {plan.students} students x {plan.days} days in {took:.0f} s")
    if not keep:
        print("(the simulation's database is gone; --keep keeps it for gamify report)")
    return played
