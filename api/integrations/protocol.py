"""The route class of the integrations: every answer, refusals and failures too, in the protocol's own shape.

The service's error handlers (`api.errors`) answer in our ErrorBody shape, which a Perspective or Akismet client
cannot read. A `ProtocolRoute` checks the protocol's credential before anything reads the body (a Coral
request with a wrong signature is refused before it is parsed, let alone classified), then runs the route and
turns what the service's handlers would have answered into the protocol's answer:

    credential wrong or missing        refuse()         (Coral 401, Perspective 400/403, Akismet "invalid")
    body unreadable or a field wrong   invalid()        RequestValidationError, FastAPI's 400 for a body that is
                                                        not JSON or not UTF-8, ClassifyError (an empty text)
    body over MODERATE_MAX_BODY_BYTES  invalid()        when it arrives without a Content-Length (with one, the
                                                        middleware answers 413 before any route runs)
    no model, database unavailable     unavailable()    503

A protocol module subclasses it and is the router's `route_class`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.errors import BodyTooLargeError, NoModelError, field_path, naming_settings
from api.settings import Settings
from api.store import StoreError
from model.errors import ClassifyError

logger = logging.getLogger(__name__)


class ProtocolRoute(APIRoute):
    """Subclasses say how their protocol refuses, reports a bad field and says it is unavailable."""

    async def refuse(self, request: Request, settings: Settings) -> Response | None:
        """The answer to a request without the right credential; None lets it through."""
        return None

    def invalid(self, status: int, field: str, message: str) -> Response:
        """The answer to a bad request; `status` is what the service would answer (400 unreadable, 413 too
        large, 422 a wrong field), for protocols that have no code of their own for it."""
        raise NotImplementedError

    def unavailable(self, message: str) -> Response:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            refusal = await self.refuse(request, settings)
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except RequestValidationError as error:
                return self.invalid(*_first_problem(error))
            except ClassifyError as error:
                return self.invalid(422, error.field or "comment", str(error))
            except HTTPException as error:
                cause = error.__cause__
                if isinstance(cause, BodyTooLargeError):
                    return self.invalid(413, "body", str(cause.detail))
                if error.status_code == 400:  # FastAPI could not read the body (not UTF-8, not JSON)
                    return self.invalid(400, "body", f"the request body cannot be read: {cause or error.detail}")
                raise
            except NoModelError as error:
                return self.unavailable(naming_settings(str(error), settings))
            except StoreError as error:
                logger.error("database error: %s", error)
                return self.unavailable(f"storage unavailable: {naming_settings(str(error), settings)}")

        return answer


def _first_problem(error: RequestValidationError) -> tuple[int, str, str]:
    """(status, field, message) of the first problem, as the service's own 400s and 422s name them."""
    problems = list(error.errors())
    if not problems:
        return 422, "body", "invalid request"
    problem = problems[0]
    if problem.get("type") == "json_invalid":
        reason = (problem.get("ctx") or {}).get("error", "invalid")
        return 400, "body", f"the request body is not valid JSON: {reason}"
    where = field_path(problem.get("loc", ()))
    if problem.get("type") == "missing":
        return 422, where, f"{where}: required field is missing"
    return 422, where, f"{where}: {problem.get('msg', 'invalid value')}"
