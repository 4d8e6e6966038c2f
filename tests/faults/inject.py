"""`python -m tests.faults.inject SERVICE FAULT`: run a service with a fault put in from here,
so that production code carries no test branches.

- `exit-after-db-commit`: exit between a batch's database commit and its offset commit;
- `slow-commit`: hold each batch's transaction open 20 ms longer (a kill then lands in one);
- `exit-mid-close`: exit while a contest week is being settled, before its commit.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared import processor
from shared.main import run_service

log = logging.getLogger("fault")


def _exit_after_db_commit() -> None:
    apply = processor.BatchProcessor._apply

    async def apply_then_exit(
        self: processor.BatchProcessor, items: Sequence[Any], more: bool = False
    ) -> bool:
        asked = await apply(self, items, more)
        if items:  # committed: the offsets of this batch are not
            log.warning("fault injection: exiting between database commit and offset commit")
            os._exit(17)
        return asked

    processor.BatchProcessor._apply = apply_then_exit  # type: ignore[method-assign]


def _slow_commit() -> None:
    enqueue: Callable[..., Awaitable[None]] = processor.enqueue

    async def slow_enqueue(*args: Any, **kwargs: Any) -> None:
        await enqueue(*args, **kwargs)
        await asyncio.sleep(0.02)  # inside the batch's transaction, just before its commit

    processor.enqueue = slow_enqueue  # type: ignore[assignment]


def _exit_mid_close() -> None:
    closer = importlib.import_module("services.contests.closer")
    enqueue: Callable[..., Awaitable[None]] = closer.enqueue

    async def enqueue_then_exit(*args: Any, **kwargs: Any) -> None:
        await enqueue(*args, **kwargs)
        log.warning("fault injection: exiting in the middle of closing a week")
        os._exit(3)

    closer.enqueue = enqueue_then_exit


FAULTS = {
    "exit-after-db-commit": _exit_after_db_commit,
    "slow-commit": _slow_commit,
    "exit-mid-close": _exit_mid_close,
}


def main(argv: list[str]) -> None:
    service, fault = argv
    FAULTS[fault]()
    app = importlib.import_module(f"services.{service}.app")
    run_service(service, app.create_app)


if __name__ == "__main__":
    main(sys.argv[1:])
