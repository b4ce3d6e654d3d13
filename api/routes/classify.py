"""POST /classify: one result per comment, in request order, with the reasons for each decision."""

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.routes.deps import ERRORS
from api.schemas import ClassifyResponse, RequestModels
from api.service import Service
from model.linking import check_unique_ids
from model.types import Comment


def classify_router(models: RequestModels) -> APIRouter:
    """The router, with the request model (and its limits) of this app."""
    router = APIRouter(tags=["classify"])

    @router.post(
        "/classify",
        response_model=ClassifyResponse,
        responses={**ERRORS, 404: {"model": ERRORS[422]["model"], "description": "Unknown article id."}},
        summary="Classify comments under an article",
    )
    async def classify(body: models.classify, request: Request) -> Response:  # type: ignore[name-defined]
        """Label each comment on_topic, off_topic or spam, choose approve/review/reject, and say why.

        `article` is either inline (`id`, `title`, `body`) or `{"id": ...}` alone for an article stored with
        PUT /articles/{id}. A comment's `parent_id` names another comment of this request or one the service
        has seen under this article. With `remember` (default), the comments join the article's thread.
        """
        # The service is read directly (not through Depends) on this, the hot path.
        return Response(await classify_comments(request.app.state.service, body), media_type="application/json")

    return router


async def classify_comments(service: Service, body: Any) -> bytes:
    """The JSON answer to a validated ClassifyRequest; raises what the error handlers turn into 4xx/503.

    Shared by the route and by `api.classify_fast_path`, which calls it without FastAPI's request handling.
    """
    model = service.require_model()
    comments = _comments(body.comments)
    article = body.article
    context = service.cached_context(model, article.id, article.title, article.body)
    if context is None:
        context = await run_in_threadpool(service.build_context, model, article.id, article.title, article.body)
    return await service.classify(model, context, comments, body.remember)


def _comments(items: list) -> list[Comment]:  # type: ignore[type-arg]
    """Model comments from request comments; a duplicate id is a 422 naming the second one.

    Checked here, before the request joins a batch, so that it fails alone (the bundle checks it again, with
    the same function, for callers of its Python API).
    """
    check_unique_ids([item.id for item in items])
    return [Comment(id=item.id, text=item.text, parent_id=item.parent_id) for item in items]
