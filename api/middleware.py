"""The API-key check, the body-size limit and request metrics, as one plain ASGI middleware.

The body limit is checked before anything parses the body: a Content-Length over the limit is answered 413
at once, and a body without one (chunked) is counted as it arrives and cut off as soon as it passes the limit.

Plain ASGI rather than `BaseHTTPMiddleware`, which wraps every request in extra tasks and streams and costs
more than a single-comment classification's share of a batch.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLargeError, error_response
from api.metrics import Metrics


class ServiceMiddleware:
    """Rejects requests without the API key (when one is set) with 401; counts and times every request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, api_key: str | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode("utf-8") if api_key else None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.api_key is not None and not self._authorized(scope):
                response = error_response(
                    401, "missing or wrong API key: send it in the X-API-Key header (or Authorization: Bearer)",
                    headers={"WWW-Authenticate": 'Bearer realm="moderator"'},
                )
                await response(scope, receive, send_and_note)
            elif _content_length(scope) > self.max_body_bytes:
                error = BodyTooLargeError(self.max_body_bytes)
                await error_response(413, str(error.detail), field="body")(scope, receive, send_and_note)
            else:
                await self.app(scope, self._limited(receive), send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._instruments(scope.get("method", ""), template, status)
            counter.inc()
            histogram.observe(time.perf_counter() - start)

    def _instruments(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        """The counter and histogram children of a label set, looked up once (`labels()` costs microseconds
        on every request otherwise). Route templates and statuses are few, so the cache stays small."""
        key = (method, template, status)
        found = self._children.get(key)
        if found is None:
            found = (self.metrics.requests.labels(method, template, str(status)),
                     self.metrics.latency.labels(method, template))
            self._children[key] = found
        return found

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return receive_within_limit

    def _authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        for name, value in scope.get("headers", ()):
            if name == b"x-api-key":
                candidate = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                candidate = value[7:].strip()
            else:
                continue
            if hmac.compare_digest(candidate, self.api_key):
                return True
        return False


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # uvicorn rejects a malformed Content-Length before we see it
    return 0
