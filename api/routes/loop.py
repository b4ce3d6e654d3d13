"""The moderation loop's routes: POST /feedback (decisions), GET /queue (what waits for review), GET /stats."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.decisions import NewDecision
from api.loop_schemas import AgreementStats, FeedbackResponse, QueueItem, QueuePage, feedback_model
from api.routes.deps import ERRORS, ServiceDep
from api.schemas import ID_RULE, id_check
from api.settings import Settings

_QUEUE_PAGE_MAX = 100


def loop_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["moderation loop"])
    feedback_request = feedback_model(settings)
    ArticleFilter = Annotated[str | None, Query(min_length=1, max_length=settings.max_id_chars,
                                                description=f"Only this article's comments; {ID_RULE}."),
                              id_check(settings.max_id_chars)]
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ERRORS[422]["model"], "description": "A decision names an article that is not known."}
    }

    @router.post("/feedback", response_model=FeedbackResponse, responses={**ERRORS, **not_found})
    async def feedback(body: feedback_request, service: ServiceDep) -> FeedbackResponse:  # type: ignore[valid-type]
        """Store moderators' final labels, all or none, each with its time, the moderator and what the model
        said about the comment at the time. A comment /classify saw needs only `comment_id` and `label`."""
        decisions = [NewDecision(comment_id=d.comment_id, label=d.label, article_id=d.article_id, text=d.text,
                                 parent_id=d.parent_id, moderator=d.moderator)
                     for d in body.decisions]  # type: ignore[attr-defined]
        return FeedbackResponse(stored=await run_in_threadpool(service.record_decisions, decisions))

    @router.get("/queue", response_model=QueuePage, responses=ERRORS)
    async def queue(service: ServiceDep, article_id: ArticleFilter = None,
                    limit: Annotated[int, Query(ge=1, le=_QUEUE_PAGE_MAX)] = 20,
                    cursor: Annotated[str | None, Query(max_length=4096)] = None) -> QueuePage:
        """Comments the model sent to review that no moderator has decided, most uncertain first, a page at a
        time (pass `next_cursor` back as `cursor`). Only comments classified with `remember` are kept."""
        items, next_cursor, waiting = await run_in_threadpool(
            service.store.queue_page, article_id=article_id, limit=limit, cursor=cursor)
        return QueuePage(items=[QueueItem(**item) for item in items], next_cursor=next_cursor, pending=waiting)

    @router.get("/stats", response_model=AgreementStats, responses=ERRORS)
    async def stats(service: ServiceDep, days: Annotated[int, Query(ge=1, le=3650)] = 30) -> AgreementStats:
        """Decisions recorded in the last `days`, how often moderators overturned an approve or a reject, and
        the precision of each against the decisions, in all and per day (UTC)."""
        since = service.store.now() - days * 86_400.0
        figures = await run_in_threadpool(service.store.agreement, since=since)
        return AgreementStats(**figures, days=days)

    return router
