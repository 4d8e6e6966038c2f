"""`gamify report CAMP`: the growth report of a camp (or, with --student, of one student),
as text, JSON or an HTML page."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gamify.dev import current_database_url


def run(args: argparse.Namespace) -> int:
    import json as json_

    import asyncpg

    from gamify.report import ReportError, build_report
    from gamify.report_html import render_html
    from gamify.report_student import (
        build_student_report,
        render_student_html,
        render_student_text,
    )
    from gamify.report_text import render_text
    from shared.settings import load_settings

    url = args.database_url or current_database_url()
    if args.simulation:
        from gamify.simulate.stack import kept_database
        from shared.embedded import database_url

        url = database_url(url, kept_database(args.simulation))
    if args.as_of is not None and args.as_of.tzinfo is None:
        print(
            "gamify report: --as-of needs an offset, e.g. 2026-12-20T20:00+08:00", file=sys.stderr
        )
        return 2
    cap = load_settings().leave_max_days

    async def make() -> Any:
        conn = await asyncpg.connect(url)
        try:
            if args.student:
                return await build_student_report(conn, args.camp, args.student, args.as_of, cap)
            return await build_report(conn, args.camp, cap, args.as_of, args.first, args.last)
        finally:
            await conn.close()

    try:
        report = asyncio.run(make())
    except ReportError as exc:
        print(f"gamify report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json_.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str))
    elif args.student:
        print(render_student_text(report, args.lang))
    else:
        print(render_text(report, lang=args.lang))
    if args.html:
        page = (
            render_student_html(report, args.lang)
            if args.student
            else render_html(report, lang=args.lang)
        )
        args.html.write_text(page, encoding="utf-8")
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0
