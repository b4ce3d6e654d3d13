"""POST /integrations/coral without FastAPI's per-request machinery, for the signed requests that validate.

Coral waits for the phase before it publishes a comment (200 ms by default), and its request is one comment:
FastAPI's routing, dependency solving and body handling cost a third more than the classification's share
(bench/coral_bench.py, docs/benchmarks.md), as they did for /classify (`api.classify_fast_path`, whose pattern
this follows). This ASGI middleware reads the body once, refuses a wrong signature with the route's own answer,
validates with the route's own model and answers with `CoralPhase.answer`, the function the route calls.
Anything else (a body that does not validate, a content type other than JSON, an error once judging started)
goes to the FastAPI app with the body replayed, whose route answers it in full.
"""

from __future__ import annotations

from types import SimpleNamespace

from starlette.types import ASGIApp, Receive, Scope, Send

from api.classify_fast_path import _is_json, _read_body, _replay
from api.errors import BodyTooLargeError, error_response
from api.integrations.coral import PHASE_PATH, SIGNATURE_HEADER, CoralPhase

_ROUTE = SimpleNamespace(path=PHASE_PATH)
_SIGNATURE = SIGNATURE_HEADER.lower().encode("ascii")


class CoralFastPath:
    """Sits inside `ServiceMiddleware` (body limit and metrics apply first), beside `ClassifyFastPath`."""

    def __init__(self, app: ASGIApp, *, phase: CoralPhase) -> None:
        self.app = app
        self.phase = phase

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PHASE_PATH
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
        scope["route"] = _ROUTE  # what ServiceMiddleware labels its metrics with
        refusal = self.phase.refusal(_header(scope, _SIGNATURE), body, service.settings)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            request = self.phase.request_model.model_validate_json(body)
        except ValueError:  # pydantic's ValidationError: the route validates it again and words the 4xx
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            response = await self.phase.answer(service, request)
        except Exception:  # the route answers it again: in Coral's shape, or as a logged 500
            await self.app(scope, _replay(body, receive), send)
            return
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
