"""Stored comments: DELETE /comments/{comment_id}?article_id=... forgets one comment everywhere."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from api.errors import error_response
from api.routes.deps import ERRORS, ServiceDep
from api.schemas import ID_RULE, id_check


def comments_router(max_id_chars: int) -> APIRouter:
    router = APIRouter(prefix="/comments", tags=["comments"])
    # Comment ids are unique within an article only, so the article is named too; as a query parameter, so that
    # neither id needs escaping into the other's path segment.
    CommentId = Annotated[str, Path(min_length=1, max_length=max_id_chars, description=ID_RULE),
                          id_check(max_id_chars)]
    ArticleId = Annotated[str, Query(min_length=1, max_length=max_id_chars,
                                     description=f"The article the comment was classified under; {ID_RULE}."),
                          id_check(max_id_chars)]
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ERRORS[422]["model"], "description": "No such comment stored under that article."}
    }

    @router.delete("/{comment_id:path}", status_code=204, responses={**ERRORS, **not_found})
    async def delete_comment(comment_id: CommentId, article_id: ArticleId, service: ServiceDep) -> Response:
        """Forget one stored comment: its text and its vector in the article's thread (no decision is stored).

        Every worker answers as if it had never been sent from its next request on; a reply naming it is then
        an unknown parent. Comments this worker classified before the DELETE are written first, so a comment
        classified a moment ago is deleted too.
        """
        if not await run_in_threadpool(service.delete_comment, article_id, comment_id):
            return error_response(404, f"unknown comment {comment_id!r} under article {article_id!r}",
                                  field="comment_id")
        return Response(status_code=204)

    return router
