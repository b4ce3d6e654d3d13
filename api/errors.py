"""How errors become HTTP answers: every client mistake is a 4xx naming the field, never a 500.

    NoModelError         -> 503  no bundle is loaded; says how to train one
    UnknownArticleError  -> 404  `article.id` alone names an article that was never stored
    ClassifyError        -> 422  the comments contradict each other (duplicate ids, unknown parent, empty text)
    DecisionError        -> 404/422  a decision names an unknown article, label or comment (field named)
    CursorError          -> 422  a queue cursor this server did not write
    RequestValidationError -> 400 when the body is not JSON, 422 for a wrong, missing or out-of-limit field
    HTTPException        -> its status; 400 for a body that is not UTF-8, 413 for a body over the limit,
                            415 for a body sent without Content-Type: application/json
    StoreError           -> 503  the database cannot be read or written
    anything else        -> 500  a bug of ours, logged with its traceback

Every answer has the shape of `schemas.ErrorBody`: {"detail": ..., "field": ..., "errors": [...]}.
Answers name the settings, never the server's files (`naming_settings`): a client learns which setting to look
at, not the layout of the disk; the log line beside each 409/503 keeps the full message with the paths.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.decisions import DecisionError
from api.review_queue import CursorError
from api.settings import Settings
from api.store import StoreError
from model.errors import ClassifyError

logger = logging.getLogger(__name__)


class NoModelError(RuntimeError):
    """Raised when a request needs the model and none is loaded."""


class BodyTooLargeError(StarletteHTTPException):
    """Raised while a request body is read, as soon as it passes the limit (see `middleware`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes (MODERATE_MAX_BODY_BYTES); "
                              "send fewer comments per request")


class UnknownArticleError(LookupError):
    """Raised when a request refers to an article id that is not stored."""

    def __init__(self, article_id: str, field: str | None = "article.id") -> None:
        self.article_id = article_id
        self.field = field
        super().__init__(
            f"unknown article {article_id!r}: store it first with PUT /articles/{{id}}, "
            "or send its title and body inline"
        )


def naming_settings(message: str, settings: Settings) -> str:
    """`message` with the model and database paths replaced by the settings that hold them.

    "no model bundle at /srv/models/prod (expected ...)" becomes "no model bundle at MODERATE_MODEL_PATH
    (expected ...)". Each path is replaced as configured and as an absolute path, longest first, so that a file
    inside the folder keeps its own name ("MODERATE_MODEL_PATH/model.joblib"). A model path naming the bundle's
    model.joblib also stands for its folder, which is what bundle errors name.
    """
    names: dict[str, str] = {}
    model = settings.model_path
    folder = model.parent if model.is_file() else model
    for setting, path in (("MODERATE_MODEL_PATH", model), ("MODERATE_MODEL_PATH", folder),
                          ("MODERATE_DATABASE_PATH", settings.database_path)):
        for spelling in _spellings(path):
            names.setdefault(spelling, setting)
    for spelling in sorted(names, key=len, reverse=True):
        message = message.replace(spelling, names[spelling])
    return message


def _spellings(path: Path) -> set[str]:
    """A path as configured, absolute and resolved; only spellings with a separator, so that a one-word
    relative path ("model") never replaces that word in the rest of the message."""
    spellings = {str(path), os.path.abspath(path)}
    with contextlib.suppress(OSError):
        spellings.add(str(path.resolve()))
    return {s for s in spellings if os.sep in s.strip(os.sep)}


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'comments', 3, 'text') -> 'comments[3].text'; the 'body'/'path'/'query' prefix is dropped."""
    parts = list(loc)
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


class _AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate a client sent (valid in JSON) can always be encoded."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(status: int, detail: str, field: str | None = None,
                   errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    content: dict[str, Any] = {"detail": detail, "field": field}
    if errors is not None:
        content["errors"] = errors
    return _AsciiJSONResponse(content, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, settings: Settings) -> None:
    """Register the handlers listed in the module docstring on `app`."""

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = list(exc.errors())
        for problem in problems:
            if problem.get("type") == "json_invalid":
                reason = (problem.get("ctx") or {}).get("error", "invalid JSON")
                position = problem["loc"][-1] if problem.get("loc") else "?"
                return error_response(400, f"the request body is not valid JSON: {reason} at character {position}",
                                      field="body")
        if len(problems) == 1 and tuple(problems[0].get("loc", ())) == ("body",) and isinstance(
            problems[0].get("input"), bytes | bytearray
        ):  # FastAPI hands over the raw bytes when the Content-Type is not JSON
            return error_response(415, "send the body as JSON with the header Content-Type: application/json",
                                  field="body")
        errors = [{"field": field_path(p.get("loc", ())), "message": _message(p)} for p in problems]
        if errors and errors[0]["field"] == "body" and problems[0].get("type") == "missing":
            return error_response(422, "the request body is empty: send a JSON object", field="body", errors=errors)
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return error_response(422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        cause = exc.__cause__
        # FastAPI turns any error while reading the body into a generic 400; the cause says what it was.
        if isinstance(cause, BodyTooLargeError):
            exc = cause
        if isinstance(exc, BodyTooLargeError):
            return error_response(413, str(exc.detail), field="body")
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            if cause.encoding.replace("-", "").lower().startswith("utf8"):
                where = f"byte 0x{cause.object[cause.start]:02x} at position {cause.start}"
                return error_response(400, f"the request body is not valid UTF-8: {where}", field="body")
            return error_response(400, f"the request body must be UTF-8 JSON (it looks like {cause.encoding})",
                                  field="body")
        if exc.status_code == 400 and cause is not None:
            return error_response(400, f"the request body cannot be read as JSON: {cause}", field="body")
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    async def classify_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ClassifyError)
        return error_response(422, str(exc), field=exc.field)

    async def unknown_article(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UnknownArticleError)
        return error_response(404, str(exc), field=exc.field)

    async def decision_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DecisionError)
        return error_response(exc.status, exc.detail, field=exc.field)

    async def cursor_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(422, str(exc), field="cursor")

    async def no_model(_: Request, exc: Exception) -> JSONResponse:
        return error_response(503, naming_settings(str(exc), settings), headers={"Retry-After": "30"})

    async def store_error(_: Request, exc: Exception) -> JSONResponse:
        logger.error("database error: %s", exc)
        return error_response(503, f"storage unavailable: {naming_settings(str(exc), settings)}",
                              headers={"Retry-After": "5"})

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error: the request was valid and the fault is ours; it was logged")

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClassifyError, classify_error)
    app.add_exception_handler(UnknownArticleError, unknown_article)
    app.add_exception_handler(DecisionError, decision_error)
    app.add_exception_handler(CursorError, cursor_error)
    app.add_exception_handler(NoModelError, no_model)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(Exception, unexpected)


def _message(problem: dict[str, Any]) -> str:
    kind = problem.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind == "model_attributes_type" or kind == "dict_type" or kind == "model_type":
        return "expected a JSON object"
    return str(problem.get("msg", "invalid value"))
