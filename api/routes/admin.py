"""POST /admin/reload: load the bundle at the model path again and swap it in without downtime."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.errors import error_response
from api.routes.deps import ERRORS, ServiceDep
from model.errors import BundleError

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/reload", responses={401: ERRORS[401], 409: {"model": ERRORS[503]["model"],
                                                           "description": "The new bundle could not be loaded."}})
async def reload(service: ServiceDep) -> Any:
    """Load the bundle at the configured model path (retrain it there first) and serve it.

    Requests in flight finish on the old model; the next ones use the new one. Other worker processes follow
    within MODERATE_RELOAD_POLL_SECONDS. If the new bundle cannot be loaded, the old one keeps serving (409).
    `kill -HUP` on a single-process server does the same.
    Protected by the API key when one is set (as every route is).
    """
    try:
        old, new = await run_in_threadpool(service.reload)
    except BundleError as error:
        current = service.model.version if service.model is not None else None
        return error_response(409, f"model not reloaded, still serving {current}: {error}", field=None)
    return {"status": "reloaded", "previous_version": old, "model_version": new}
