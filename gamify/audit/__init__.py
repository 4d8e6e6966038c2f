"""`gamify audit`: the oracle of "at-least-once in, effectively-once out" (see base.py)."""

from __future__ import annotations

import asyncpg

from gamify.audit.base import AuditBase, AuditResult, Difference, read_all
from gamify.audit.loop import LoopAudit
from gamify.audit.others import BadgesAudit, ContestsAudit, NudgesAudit
from gamify.audit.points import PointsAudit
from shared import topics


class Auditor(PointsAudit, BadgesAudit, NudgesAudit, LoopAudit, ContestsAudit, AuditBase):
    """Every check, over one reading of the input log and the outputs."""

    async def run(self) -> AuditResult:
        await self._read_inputs()
        self._apply_integrity()
        outputs = {t: await self._read_output(t) for t in topics.OUTPUT_TOPICS}
        self.result.outputs = sum(len(v) for v in outputs.values())
        conn = await asyncpg.connect(self.database_url)
        try:
            await self._points(conn, outputs)
            await self._badges(conn, outputs)
            await self._nudges(conn, outputs)
            await self._loop(conn, outputs)
            await self._contests(conn, outputs)
        finally:
            await conn.close()
        self._dead_letters(outputs[topics.DLQ])
        self._integrity_letters(outputs[topics.DLQ])
        return self.result


__all__ = ["AuditResult", "Auditor", "Difference", "read_all"]
