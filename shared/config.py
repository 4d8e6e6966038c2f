"""Loading ops-tuned YAML configuration into pydantic models, with errors that name the file,
the line and the fix; and a watcher that reloads a changed file without a restart."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; str() lists every problem by line."""


@dataclass(frozen=True)
class Loaded(Generic[M]):
    model: M
    # A digest of the file's content, after the ops' own `version:` label when given
    # ("contract-defaults-1@3f2a9c01b7d4"): it changes whenever the content does, even when
    # the label was not bumped.
    version: str
    path: Path


def load_yaml(path: Path, model: type[M]) -> Loaded[M]:
    """Parse and validate `path`; raise ConfigError with `file:line: where: what (fix)`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    if data is None:
        # Most often a file caught mid-write or truncated: taking it as "all defaults" would
        # silently replace every rule ops set.
        raise ConfigError(
            f"{path}:1: the file is empty (no settings at all); write the settings to change,"
            " `{}` to mean every default on purpose, or leave the file unset to use the shipped one"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of settings, not a {type(data).__name__}"
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(path, node, err) for err in exc.errors()]
        raise ConfigError("\n".join(problems)) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    label = data.get("version")
    version = f"{label}@{digest}" if label else digest
    return Loaded(parsed, version, path)


def _describe(path: Path, root: yaml.Node | None, err: Any) -> str:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    line = _line_of(root, loc)
    where = ".".join(str(p) for p in loc) or "(top level)"
    fix = _FIXES.get(err["type"], "")
    return f"{path}:{line}: {where}: {err['msg']}" + (f" ({fix})" if fix else "")


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "greater_than": "raise the value",
    "bool_type": "write true or false",
    "literal_error": "use one of the listed values",
}


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int:
    """The 1-based line of the deepest node of `loc` that exists in the document."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return line
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


class Watched(Generic[M]):
    """The configuration in force, reloaded when the file changes.

    A bad new file is rejected: the previous configuration stays in force, the error is logged
    and `on_error` is told (a metric counts it).
    """

    def __init__(
        self,
        path: Path,
        model: type[M],
        on_load: Callable[[Loaded[M]], None] = lambda _l: None,
        on_error: Callable[[ConfigError], None] = lambda _e: None,
    ) -> None:
        self._path = path
        self._model = model
        self._on_load = on_load
        self._on_error = on_error
        self._stamp = self._stat()
        self.current: Loaded[M] = load_yaml(path, model)
        on_load(self.current)

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def refresh(self) -> Loaded[M]:
        """Reload if the file changed since the last look; return the configuration in force."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self.current
        self._stamp = stamp
        try:
            loaded = load_yaml(self._path, self._model)
        except ConfigError as exc:
            log.error(
                "rejected changed configuration, keeping version %s:\n%s", self.current.version, exc
            )
            self._on_error(exc)
            return self.current
        if loaded.version != self.current.version:
            log.info("configuration %s now in force: version %s", self._path, loaded.version)
        self.current = loaded
        self._on_load(loaded)
        return loaded
