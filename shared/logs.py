"""Logging: readable lines by default, JSON lines with GAMIFY_LOG_FORMAT=json."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "context",
}
CONTEXT_FIELDS = ("event_id", "topic", "partition", "offset")

_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "gamify_log_context", default=None
)


@contextlib.contextmanager
def event_context(**fields: object) -> Iterator[None]:
    """Every log line inside carries these fields (the event's id, topic, partition, offset)."""
    token = _context.set({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current event context on each record: as attributes (JSON keys) and as a
    readable `context` suffix for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get() or {}
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        shown = {k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)}
        record.context = (
            " [" + " ".join(f"{k}={v}" for k, v in shown.items()) + "]" if shown else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields (event_id, topic, ...) become keys."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(service: str, fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)-7s {service:<8} %(name)s: %(message)s%(context)s"
            )
        )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faststream"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
