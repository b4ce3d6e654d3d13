"""POST /classify without FastAPI's per-request machinery, for the requests that succeed.

Profiled under load (docs/benchmarks.md), FastAPI's layers for one request (routing, dependency solving, body
reading, exception wrappers) cost the event loop more than the rest of a single-comment classification's
share. This ASGI middleware answers a well-formed POST /classify itself: it reads the body once, validates it
in one call with the route's own pydantic model (`model_validate_json`, same strict rules and limits), and
answers through `classify_comments`, the function the route uses. A body that does not validate, or a content
type other than JSON, goes to the FastAPI app with the body replayed (nothing was classified yet). An error
raised once classification has started (an unknown parent or article, no model) is answered by the app's own
exception handler for it, so an error answer costs one classification, not two, and every error answer still
comes from one place.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLargeError, error_response
from api.routes.classify import classify_comments

_PATH = "/classify"
_ROUTE = SimpleNamespace(path=_PATH)


class ClassifyFastPath:
    """Sits inside `ServiceMiddleware` (API key, body limit and metrics apply first)."""

    def __init__(self, app: ASGIApp, *, request_model: Any) -> None:
        self.app = app
        self.request_model = request_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == _PATH
                and _is_json(scope)):
            await self.app(scope, receive, send)
            return
        try:
            body, complete = await _read_body(receive)
        except BodyTooLargeError as error:
            await error_response(413, str(error.detail), field="body")(scope, receive, send)
            return
        service = getattr(scope["app"].state, "service", None)
        if not complete or service is None:
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            request = self.request_model.model_validate_json(body)
        except ValueError:  # pydantic's ValidationError: the app validates it again and words the 4xx
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            payload = await classify_comments(service, request)
        except Exception as error:  # answered by the handler the app registered for it (4xx/503, or a logged 500)
            response = await _handler_for(scope["app"], error)(Request(scope, _replay(body, receive)), error)
            scope["route"] = _ROUTE
            await response(scope, receive, send)
            return
        scope["route"] = _ROUTE  # what ServiceMiddleware labels its metrics with
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii")),
        ]})
        await send({"type": "http.response.body", "body": payload})


def _handler_for(app: Any, error: Exception) -> Any:
    """The exception handler `api.errors.install_error_handlers` registered for this error's class (or a base)."""
    for kind in type(error).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            return handler
    raise error


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and False if the client disconnected first (then the app sees what we got)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
