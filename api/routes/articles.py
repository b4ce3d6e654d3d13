"""Stored articles: PUT /articles/{id} so that /classify can send `{"article": {"id": ...}}` alone."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from starlette.concurrency import run_in_threadpool

from api.errors import UnknownArticleError
from api.routes.deps import ERRORS, ServiceDep
from api.schemas import ID_RULE, ArticleOut, RequestModels, id_check
from model.types import Article


def articles_router(models: RequestModels, max_id_chars: int) -> APIRouter:
    router = APIRouter(prefix="/articles", tags=["articles"])
    # The same rule as the ids in bodies: a PUT with a decomposed 'é' stores the article /classify finds.
    ArticleId = Annotated[str, Path(min_length=1, max_length=max_id_chars, description=ID_RULE),
                          id_check(max_id_chars)]
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ERRORS[422]["model"], "description": "Unknown article id."}
    }

    # An article stored without an address is answered without `url`, as before there were addresses.
    @router.put("/{article_id}", response_model=ArticleOut, response_model_exclude_none=True,
                responses={**ERRORS, 201: {"model": ArticleOut}})
    async def put_article(article_id: ArticleId, body: models.article_body, service: ServiceDep,  # type: ignore[name-defined]
                          response: Response) -> ArticleOut:
        """Store (or replace) an article, with its address if the integrations should find it by that (Coral's
        story url, Akismet's permalink). Replacing it drops what was computed from the old text; the comments
        already seen under it stay its thread. 201 when new, 200 when replaced."""
        article = Article(id=article_id, title=body.title, body=body.body)
        created = await run_in_threadpool(service.put_article, article, body.url)
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        known = await run_in_threadpool(service.store.count_comments, article_id)
        return ArticleOut(id=article.id, title=article.title, body=article.body, url=body.url, known_comments=known)

    @router.get("/{article_id}", response_model=ArticleOut, response_model_exclude_none=True,
                responses={**ERRORS, **not_found})
    async def get_article(article_id: ArticleId, service: ServiceDep) -> ArticleOut:
        """A stored article and how many of its comments the service remembers."""
        article = await run_in_threadpool(service.store.get_article, article_id)
        if article is None:
            raise UnknownArticleError(article_id, field="article_id")
        known = await run_in_threadpool(service.store.count_comments, article_id)
        url = await run_in_threadpool(service.store.article_url, article_id)
        return ArticleOut(id=article.id, title=article.title, body=article.body, url=url, known_comments=known)

    @router.delete("/{article_id}", status_code=204, responses={**ERRORS, **not_found})
    async def delete_article(article_id: ArticleId, service: ServiceDep) -> Response:
        """Forget an article and the comments remembered under it."""
        if not await run_in_threadpool(service.delete_article, article_id):
            raise UnknownArticleError(article_id, field="article_id")
        return Response(status_code=204)

    return router
