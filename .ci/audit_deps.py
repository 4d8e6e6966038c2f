"""Scan the locked dependencies with pip-audit (PyPI's advisory data).

Fails on any known vulnerability. Where the advisory service cannot be reached, or does not know
a package, it says so and goes on: an unreachable scanner must not block a release, but it must
never pass silently either.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(LOCK),
                "--no-deps",
                "--disable-pip",
                "--format",
                "json",
                "-o",
                str(report),
                "--progress-spinner",
                "off",
            ],
            capture_output=True,
            text=True,
        )
        if not report.exists():
            print(f"warning: pip-audit could not run: {run.stderr.strip()[-500:]}", file=sys.stderr)
            return 0
        deps = json.loads(report.read_text())["dependencies"]
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    for d in vulnerable:
        ids = ", ".join(
            v["id"]
            + (f" (fixed in {', '.join(v['fix_versions'])})" if v.get("fix_versions") else "")
            for v in d["vulns"]
        )
        print(f"VULNERABLE {d['name']}=={d['version']}: {ids}")
    print(
        f"pip-audit: {len(deps)} locked packages, {len(deps) - len(skipped)} audited,"
        f" {len(skipped)} unknown to the advisory service, {len(vulnerable)} vulnerable"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
