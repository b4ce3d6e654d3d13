"""Is the service alive, is it ready, what model does it serve, and its Prometheus metrics."""

from typing import Any

from fastapi import APIRouter, Response

from api.routes.deps import ERRORS, ServiceDep
from api.schemas import ModelInfo

router = APIRouter(tags=["status"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Alive: the process answers HTTP (it may still have no model; see /ready).

    Answers without the API key when MODERATE_OPEN_PROBES is true, for load-balancer probes.
    """
    return {"status": "ok"}


@router.get("/ready", responses={503: ERRORS[503]})
async def ready(service: ServiceDep) -> dict[str, Any]:
    """Ready: a model is loaded, the database file is the one the service opened, and /classify can answer.
    503 (with how to fix it) otherwise, e.g. when the database file was deleted or replaced under the service.

    Answers without the API key when MODERATE_OPEN_PROBES is true, for load-balancer probes.
    """
    model = service.check_ready()
    return {"status": "ready", "model_version": model.version}


@router.get("/model", response_model=ModelInfo, responses={503: ERRORS[503]})
async def model_info(service: ServiceDep) -> dict[str, Any]:
    """Version, labels, action thresholds and held-out validation metrics of the model being served."""
    return service.require_model().info()


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: requests, latencies, labels and actions served, batch sizes, reloads."""
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
