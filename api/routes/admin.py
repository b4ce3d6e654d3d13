"""POST /admin/reload: load the bundle at the model path again and swap it in without downtime."""

import logging
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.errors import error_response, naming_settings
from api.routes.deps import ERRORS, ServiceDep
from api.schemas import ErrorBody
from model.errors import BundleError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/reload", responses={
    401: ERRORS[401],
    403: {"model": ErrorBody, "description": "MODERATE_ADMIN_KEY is set and the API key was sent instead."},
    409: {"model": ErrorBody, "description": "The new bundle could not be loaded."},
})
async def reload(service: ServiceDep) -> Any:
    """Load the bundle at the configured model path (retrain it there first) and serve it.

    Requests in flight finish on the old model; the next ones use the new one. Other worker processes follow
    within MODERATE_RELOAD_POLL_SECONDS. If the new bundle cannot be loaded, the old one keeps serving (409).
    `kill -HUP` on a single-process server does the same.
    Needs the admin key when MODERATE_ADMIN_KEY is set (the API key alone is refused), else the API key when
    one is set (as every route does).
    """
    try:
        old, new = await run_in_threadpool(service.reload)
    except BundleError as error:
        current = service.model.version if service.model is not None else None
        logger.error("model not reloaded, still serving %s: %s", current, error)
        detail = naming_settings(str(error), service.settings)
        return error_response(409, f"model not reloaded, still serving {current}: {detail}", field=None)
    return {"status": "reloaded", "previous_version": old, "model_version": new}
