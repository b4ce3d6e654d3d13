"""What routes take from the app: the service created in the lifespan."""

from typing import Annotated, Any

from fastapi import Depends, Request

from api.schemas import ErrorBody
from api.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]

#: Documented error answers, shared by the routes' OpenAPI entries.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON or not UTF-8."},
    401: {"model": ErrorBody, "description": "Missing or wrong API key (only when one is configured)."},
    413: {"model": ErrorBody, "description": "The body is larger than the configured limit."},
    422: {"model": ErrorBody, "description": "A field is missing, has the wrong type or breaks a limit."},
    503: {"model": ErrorBody, "description": "No model is loaded (train one with `moderate train`)."},
}
