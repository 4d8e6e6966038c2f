"""The entry point every service's __main__ uses."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable

from shared import logs
from shared.config import ConfigError
from shared.embedded import InfrastructureError
from shared.reach import Unreachable
from shared.service import ServiceRuntime
from shared.settings import Settings, SettingsError, load_settings


def run_service(name: str, create_app: Callable[[Settings], ServiceRuntime]) -> None:
    """Read settings, configure logs, run until SIGINT/SIGTERM. Exit 2 on a configuration
    error (a restart cannot help), 1 when the broker or the database cannot be reached at
    start (a supervisor's restart can)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(name, settings.log_format, settings.log_level)
    tune_gc(settings.gc_gen0_threshold)
    try:
        asyncio.run(create_app(settings).run_until_signalled())
    except (ConfigError, InfrastructureError) as exc:
        logging.getLogger(name).error("cannot start: %s", exc)
        raise SystemExit(2) from None
    except Unreachable as exc:
        logging.getLogger(name).error("cannot start: %s", exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


# Collections of the middle generation between full collections (Python: 10); see tune_gc.
FULL_COLLECTION_AFTER = 100


def tune_gc(gen0_threshold: int) -> None:
    """Tune Python's cycle collector for a consumer.

    Always: a full collection after FULL_COLLECTION_AFTER collections of the middle generation,
    not Python's 10. The consumer holds the records it fetched ahead (hundreds of thousands of
    objects in a backlog) across many collections, so they reach the oldest generation, and
    every full collection walks all of them: in a points drain of 219,001 events, 34 full
    collections took 2.9 s, 15% of the service's CPU (with the younger generations, 20%).
    With 100: 3 full collections, 0.3 s; the service's CPU for the drain 19.7 -> 16.8-18.2 s,
    and RSS at 1,000 events/s over 30 s as before (69-72 MB). The young generations, where
    nearly all garbage dies, are collected as often as before; only cyclic garbage that
    survives to the oldest waits longer.

    With `gen0_threshold` (GAMIFY_GC_GEN0_THRESHOLD, 50,000; 0 leaves Python's 700) what
    start made is frozen (never examined again), the young generation is collected every
    `gen0_threshold` allocations and the middle one after 20 collections of it. A batch of 500
    events allocates hundreds of thousands of objects (decoded events, rows, output messages),
    nearly all freed by reference counting; with 700 the collector runs hundreds of times a
    batch and promotes the batch's live objects to be walked again. With 50,000 a batch's
    objects mostly die young. Points' batch step alone (`bench.handler`, three pairs
    alternating): 52.0-56.5 -> 46.1-49.4 us of Python per event; RSS over 30 s at 1,000
    events/s 68-72 MB either way, and flat over a 10-minute soak (bench/README.md, Memory)."""
    if gen0_threshold <= 0:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, 20, FULL_COLLECTION_AFTER)
