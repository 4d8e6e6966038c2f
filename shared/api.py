"""A service's read API, declared once. From the same declarations come the aiohttp routes,
the validation at the edge (a bad path or query value is a 400 with the reason, never a 500),
the one answer every service gives for a camp it does not know (404), and the OpenAPI
document served at /openapi.json (which CI fuzzes with schemathesis)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from shared.http import json_response

ID_MAX = 128  # the contract's ids: 1-128 characters (shared.events.Id)
Args = dict[str, Any]
View = Callable[[Args], Awaitable[Any]]  # a JSON-able body, or a web.Response as it is


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query value. Ids are text of 1-128 characters without NUL (what an event can
    carry); `whole` makes it a whole number within (low, high), `choices` one of these words."""

    name: str
    where: str = "path"
    description: str = ""
    whole: tuple[int, int] | None = None
    default: int | str | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False  # a query value that may be left out, with no default

    @property
    def required(self) -> bool:
        if self.where == "path":
            return True
        return self.whole is not None and self.default is None and not self.optional

    def parse(self, raw: str | None) -> str | int | None:
        """The value, or raise ValueError with a reason a person can act on."""
        if raw is None:
            if self.required and self.whole is not None:
                raise ValueError(f"{self.name} is required")
            return self.default
        if self.choices is not None:
            if raw not in self.choices:
                raise ValueError(f"{self.name} must be one of: {', '.join(self.choices)}")
            return raw
        if self.whole is not None:
            low, high = self.whole
            if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
                raise ValueError(f"{self.name} must be a whole number from {low} to {high}")
            return int(raw)
        if not 1 <= len(raw) <= ID_MAX:
            raise ValueError(f"{self.name} must be 1 to {ID_MAX} characters long")
        if "\x00" in raw:
            raise ValueError(f"{self.name} must not contain NUL")
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{self.name} must be valid UTF-8 text") from None
        return raw

    def schema(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"type": "string", "enum": list(self.choices)}
        if self.whole is not None:
            low, high = self.whole
            return {"type": "integer", "minimum": low, "maximum": high}
        return {"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": "^[^\\x00]+$"}


@dataclass(frozen=True, slots=True)
class Route:
    """GET `path` -> `view(args)`. Path values not listed in `params` are ids. A route with a
    `camp_id` path value, or a `camp` query value, answers 404 while that camp is unknown."""

    path: str
    view: View
    summary: str
    params: tuple[Param, ...] = ()
    content_type: str = "application/json"
    not_found: str | None = None  # when the view itself can answer 404, and why

    def all_params(self) -> list[Param]:
        declared = {p.name: p for p in self.params}
        path = [declared.get(n, Param(n)) for n in re.findall(r"{(\w+)}", self.path)]
        return path + [p for p in self.params if p.where == "query"]


def camp_not_known(camp_id: str) -> web.Response:
    return json_response({"error": f"camp {camp_id!r} is not known"}, status=404)


def bad_request(reason: str) -> web.Response:
    return json_response({"error": reason}, status=400)


def web_routes(routes: Sequence[Route], pool: asyncpg.Pool) -> list[web.RouteDef]:
    """The aiohttp routes: validate, check the camp, then call the view."""

    def handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        params = route.all_params()

        async def handle(request: web.Request) -> web.StreamResponse:
            args: Args = {}
            for p in params:
                raw = request.match_info.get(p.name) if p.where == "path" else None
                if p.where == "query":
                    raw = request.query.get(p.name)
                try:
                    args[p.name] = p.parse(raw)
                except ValueError as exc:
                    return bad_request(str(exc))
            camp = args.get("camp_id") or args.get("camp")
            if camp is not None and not await pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM camps WHERE camp_id = $1)", camp
            ):
                return camp_not_known(str(camp))
            body = await route.view(args)
            if isinstance(body, web.StreamResponse):
                return body
            return json_response(body, content_type=route.content_type)

        return handle

    return [web.get(r.path, handler(r)) for r in routes]


_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    }
}


def openapi(service: str, routes: Sequence[Route], token: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a service's HTTP side."""
    paths: dict[str, Any] = {
        "/health/live": _plain("Liveness: the process answers.", {"200": "live"}),
        "/health/ready": _plain(
            "Readiness: the database answers and partitions are assigned.",
            {"200": "ready", "503": "not ready"},
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format).",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {}}}}
                },
            }
        },
    }
    for r in routes:
        responses: dict[str, Any] = {
            "200": {
                "description": "found",
                "content": {
                    r.content_type: {
                        "schema": {"type": "object" if "json" in r.content_type else "string"}
                    }
                },
            },
            "400": {"description": "a path or query value is not valid", **_ERROR},
        }
        camp = any(p.name in ("camp_id", "camp") for p in r.all_params())
        why = ["the camp is not known"] if camp else []
        why += [r.not_found] if r.not_found else []
        # A path value holding "/" reaches no route at all: aiohttp's own 404 (text).
        responses["404"] = {"description": " or ".join([*why, "no such path"])}
        if token:
            responses["401"] = {"description": "no or wrong bearer token", **_ERROR}
        paths[r.path] = {
            "get": {
                "summary": r.summary,
                "parameters": [
                    {
                        "name": p.name,
                        "in": p.where,
                        "required": p.required,
                        "description": p.description or p.name,
                        "schema": p.schema(),
                    }
                    for p in r.all_params()
                ],
                "responses": responses,
            }
        }
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": f"gamify {service}", "version": "1"},
        "paths": paths,
    }
    if token:
        document["components"] = {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
        for path, item in paths.items():
            if not path.startswith(("/health/", "/metrics")):
                item["get"]["security"] = [{"bearer": []}]
    return document


def _plain(summary: str, answers: dict[str, str]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {
                code: {
                    "description": what,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
                for code, what in answers.items()
            },
        }
    }
