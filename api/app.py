"""`create_app(settings)`: the HTTP service, built from settings, with the model loaded once in the lifespan.

    app = create_app(Settings(model_path=..., database_path=...))
    with TestClient(app) as client:      # start-up (model load) and shutdown really happen
        client.post("/classify", json={...})

`api.server.serve()` runs it under uvicorn, in one process or several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.classify_fast_path import ClassifyFastPath
from api.errors import install_error_handlers
from api.integrations import CoralFastPath, integrations
from api.metrics import Metrics
from api.middleware import ServiceMiddleware
from api.routes import admin, status
from api.routes.articles import articles_router
from api.routes.classify import classify_router
from api.routes.comments import comments_router
from api.routes.loop import loop_router
from api.routes.review import router as review_router
from api.schemas import request_models
from api.service import Service
from api.settings import Settings, get_settings
from model.errors import BundleError

logger = logging.getLogger(__name__)

DESCRIPTION = """Sorts reader comments under a news article into **on_topic**, **off_topic** or **spam**, chooses
approve / review / reject, and says why. Send the article inline or store it once with `PUT /articles/{id}`."""


def create_app(settings: Settings | None = None, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """A new app; `settings` defaults to the environment (`get_settings()`).

    `clock` is when comments are stored, as retention sees it (tests pass their own to age what they stored).
    """
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, metrics, clock=clock)
        await run_in_threadpool(service.start)
        app.state.service = service
        tasks = [asyncio.create_task(_follow_reloads(service, settings.reload_poll_seconds)),
                 asyncio.create_task(_prune(service, settings.retention_check_seconds))]
        hangup = _reload_on_hangup(service)
        try:
            yield
        finally:
            hangup()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await run_in_threadpool(service.close)

    app = FastAPI(
        title="Comment moderator",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        # The service exports Prometheus metrics (/metrics); FastAPI's OpenTelemetry hooks would otherwise look
        # up the global OTel providers on every request (3% of a single-comment request's CPU, profiled).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    models = request_models(settings)
    app.include_router(classify_router(models))
    app.include_router(articles_router(models, settings.max_id_chars))
    app.include_router(comments_router(settings.max_id_chars))
    app.include_router(loop_router(settings))
    app.include_router(review_router)
    app.include_router(status.router)
    app.include_router(admin.router)
    platforms = integrations(settings)  # Coral, Perspective, Akismet (docs/integrations.md)
    for router in platforms.routers:
        app.include_router(router)
    install_error_handlers(app, settings)
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    # Added first, so it runs inside ServiceMiddleware: the key, the body limit and the metrics apply to it too.
    app.add_middleware(ClassifyFastPath, request_model=models.classify)
    app.add_middleware(CoralFastPath, phase=platforms.coral_phase)
    # Our own body limit rather than FastAPI's max_body_size, whose 413 is plain text without the limit in it.
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes, api_key=api_key)
    if api_key is not None:
        _document_api_key(app)
    return app


def _document_api_key(app: FastAPI) -> None:
    """Say in the OpenAPI schema what the middleware enforces: every operation needs the key, else 401.

    The key is checked by `ServiceMiddleware`, not by route dependencies, so FastAPI cannot see it by itself.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerKey": {"type": "http", "scheme": "bearer"},
        }
        schema["security"] = [{"ApiKeyHeader": []}, {"BearerKey": []}]
        unauthorized = {
            "description": "Missing or wrong API key.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.setdefault("responses", {}).setdefault("401", unauthorized)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _follow_reloads(service: Service, every: float) -> None:
    """Reload when another worker process did (they share the database); a no-op with every = 0."""
    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(service.follow_reloads)
        except Exception:  # a broken database must not end the loop; the error is logged and retried
            logger.exception("could not check for a model reload")


async def _prune(service: Service, every: float) -> None:
    """Prune old comments at start-up and every `every` seconds (MODERATE_RETENTION_CHECK_SECONDS; 0: never)."""
    if every <= 0:
        return
    while True:
        try:
            await run_in_threadpool(service.prune)
        except Exception:  # a broken database must not end the loop; the error is logged and retried
            logger.exception("could not prune old comments")
        await asyncio.sleep(every)


def _reload_on_hangup(service: Service) -> Callable[[], None]:
    """`kill -HUP <pid>` reloads the model like POST /admin/reload; returns the function that undoes it.

    Only where the event loop runs in the main thread (uvicorn, one process); under a test client, or under
    uvicorn's multi-process supervisor (which restarts its workers on SIGHUP itself), nothing is installed.
    """
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def reload() -> None:
        async def run() -> None:
            try:
                await run_in_threadpool(service.reload)
            except BundleError as error:
                logger.error("SIGHUP: model not reloaded: %s", error)

        background.add(task := loop.create_task(run()))
        task.add_done_callback(background.discard)

    background: set[asyncio.Task[None]] = set()
    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here (e.g. not the main interpreter)
        return lambda: None

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return undo
