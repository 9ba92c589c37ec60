"""The route table of the sandbox's API server: Runtime, Extensions, Telemetry, the metadata endpoint and lambdatui's
private APIs (issue 9).

`sandbox_router(host)` resolves a method and a path to the route that answers them; `http11` does the framing.
Paths are templates whose `<name>` segments match one non-empty path segment, as quart's routes did; a known
path with another method is 405, an unknown one 404, both with Lambda's JSON error body.
"""

from __future__ import annotations

from typing import Iterable, Optional

from lambdatui.api.api_capture import ApiCapture
from lambdatui.api.extension_routes import extension_routes
from lambdatui.api.http11_exchange import Exchange, Resolve, Route
from lambdatui.api.metadata_routes import CallerEnvironment, metadata_routes
from lambdatui.api.private_routes import private_routes
from lambdatui.api.rendering import Answer, error
from lambdatui.api.runtime_routes import runtime_routes
from lambdatui.api.telemetry_routes import telemetry_routes
from lambdatui.host.environment_host import EnvironmentHost

_NOT_FOUND = error(404, "NotFound", "No such endpoint")
_NOT_ALLOWED = error(405, "MethodNotAllowed", "Method not allowed for this endpoint")


async def _not_found(_: Exchange) -> Answer:
    return _NOT_FOUND


async def _not_allowed(_: Exchange) -> Answer:
    return _NOT_ALLOWED


NOT_FOUND, NOT_ALLOWED = Route(_not_found), Route(_not_allowed)


def router(routes: Iterable[tuple[str, str, Route]]) -> Resolve:
    """Fixed paths by a dict look-up (the warm path's /next is one); templated ones segment by segment (no pattern
    to compile: each environment makes its own router, on its way up)."""
    fixed: dict[str, dict[str, Route]] = {}
    templated: dict[str, tuple[tuple[Optional[str], ...], dict[str, Route]]] = {}
    for method, template, route in routes:
        if "<" in template:
            shape = tuple(None if part.startswith("<") and part.endswith(">") else part for part in template.split("/"))
            methods = templated.setdefault(template, (shape, {}))[1]
        else:
            methods = fixed.setdefault(template, {})
        methods[method] = route
    shapes = tuple(templated.values())

    def resolve(method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        methods, params = fixed.get(path), ()
        if methods is None:
            parts = path.split("/")
            for shape, candidates in shapes:
                found = _parameters(shape, parts)
                if found is not None:
                    methods, params = candidates, found
                    break
            else:
                return NOT_FOUND, ()
        route = methods.get(method)
        return (NOT_ALLOWED, ()) if route is None else (route, params)

    return resolve


def _parameters(shape: tuple[Optional[str], ...], parts: list[str]) -> Optional[tuple[str, ...]]:
    """The path's segments where the template has a `<name>` (None: another path); each matches one segment, an
    empty one too: RAPID's router takes `/runtime/invocation//response` (a runtime that lost the id header), and
    the request id's check answers it 400 InvalidRequestID, not 404."""
    if len(shape) != len(parts):
        return None
    found = []
    for wanted, part in zip(shape, parts):
        if wanted is None:
            found.append(part)
        elif wanted != part:
            return None
    return tuple(found)


def sandbox_router(host: EnvironmentHost, caller: Optional[CallerEnvironment] = None) -> Resolve:
    """What processes inside the environment reach at AWS_LAMBDA_RUNTIME_API. `caller`: which environment a call
    comes from now (a SnapStart copy may call its snapshot's address), for the metadata endpoint's answer."""
    routes = [*runtime_routes(host), *extension_routes(host), *telemetry_routes(host), *metadata_routes(host, caller),
              *private_routes(host)]
    if not host.inspect:
        return router(routes)
    # The debugger shows every exchange, refusals of unknown paths too; headless modes pay nothing for it.
    capture = ApiCapture(host.publish_exchange)
    resolve = router(capture.wrap(routes))
    not_found, not_allowed = capture.wrap_route(NOT_FOUND), capture.wrap_route(NOT_ALLOWED)

    def recorded(method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        route, params = resolve(method, path)
        if route is NOT_FOUND:
            return not_found, params
        return (not_allowed, params) if route is NOT_ALLOWED else (route, params)

    return recorded
