"""The entry point every service's __main__ uses."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from shared import logs
from shared.config import ConfigError
from shared.embedded import InfrastructureError
from shared.service import ServiceRuntime
from shared.settings import Settings, SettingsError, load_settings


def run_service(name: str, create_app: Callable[[Settings], ServiceRuntime]) -> None:
    """Read settings, configure logs, run until SIGINT/SIGTERM; exit 2 on a configuration error."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(name, settings.log_format, settings.log_level)
    try:
        asyncio.run(create_app(settings).run_until_signalled())
    except (ConfigError, InfrastructureError) as exc:
        logging.getLogger(name).error("cannot start: %s", exc)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass
