"""What the three integrations share: one comment judged on the service's classify path, and decisions stored.

The rules every platform follows, written once here:

    article     A comment is judged under a stored article, found by id or by address (`find_article`), or under
                an article the request carries (Perspective's context). Without one it is judged for spam only:
                our off-topic call relates a comment to its article, so without the article it means nothing.
                Such a comment is classified under a blank article and never stored.
    comment id  Coral, Perspective and Akismet send no id we could use (Coral's comment does not exist yet when
                it asks). A comment is stored under `comment_key(article, text)`: the same text under the same
                article is the same comment, whichever protocol sent it, so a later decision that carries only
                the text (Akismet's submit-spam, Perspective's suggestscore) finds what the model said.
    opinion     What the platform is told: the served action (approve / review / reject), or None for "no
                opinion". Spam-only judging has an opinion only about spam; shadow mode (MODERATE_SHADOW) has
                none at all, while the classification is stored as usual, so /stats can compare it with the
                moderators' decisions before the site lets us act.
    decisions   The platforms' feedback goes through `Service.record_decisions`, like /feedback's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from api.decisions import NewDecision
from api.service import LoadedModel, Service
from model.context import ArticleContext
from model.labels import SPAM
from model.text import normalize_text
from model.types import Article, Comment

#: The blank article's id: never a stored one, since stored ids refuse control characters (`api.schemas`).
NO_ARTICLE = "\x00no article"


@dataclass(frozen=True)
class Subject:
    """One comment to judge and what it sits under: `article_id` None means no known article (spam only)."""

    text: str
    article_id: str | None
    title: str | None = None  # an article carried inline (with `article_id` naming it), else the stored one
    body: str | None = None
    parent_id: str | None = None
    remember: bool = True


@dataclass(frozen=True)
class Verdict:
    """What the model said about one comment, and under which id it was stored (None: not stored)."""

    comment_id: str | None
    label: str
    action: str
    scores: dict[str, float]
    reasons: list[str]
    spam_only: bool
    spans: list[dict[str, float]] = field(default_factory=list)  # the scores of each requested span, in order

    def opinion(self, *, shadow: bool) -> str | None:
        """The action a platform may act on, or None for no opinion (see the module docstring)."""
        if shadow or (self.spam_only and self.label != SPAM):
            return None
        return self.action


def comment_key(article_id: str, text: str) -> str:
    """The id of a comment that came without one: the same for the same article and text (white space, case of
    look-alike characters and invisible characters aside, as the model reads it)."""
    canonical = " ".join(normalize_text(text).split())
    return "k" + hashlib.sha256(f"{article_id}\x00{canonical}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


def find_article(service: Service, *, article_id: str | None = None, url: str | None = None) -> str | None:
    """The id of the stored article named by its id, else by its address; None when neither is stored.

    On the event loop (Coral's hot path): a cached context, else two indexed reads (`ArticleStore.find_article_id`).
    """
    model = service.model
    if article_id and model is not None and service.cached_context(model, article_id, None, None) is not None:
        return article_id
    return service.store.find_article_id(article_id or None, url or None)


class Judge:
    """Classifies one comment at a time through the service's batcher, as /classify does; one per app.

    It keeps the blank article's context per loaded model (a reload brings a new one).
    """

    def __init__(self) -> None:
        self._blank: weakref.WeakKeyDictionary[LoadedModel, ArticleContext] = weakref.WeakKeyDictionary()

    async def __call__(self, service: Service, subject: Subject, *,
                       spans: Sequence[tuple[int, int]] = ()) -> Verdict:
        """Judge `subject`; `spans` (begin, end) are parts of its text scored on their own, never stored."""
        model = service.require_model()
        if subject.article_id is None:
            context, parent_id, remember, comment_id = self._blank_context(model), None, False, "comment"
        else:
            cached = service.cached_context(model, subject.article_id, subject.title, subject.body)
            context = cached if cached is not None else await run_in_threadpool(
                service.build_context, model, subject.article_id, subject.title, subject.body)
            parent_id = await _known_parent(service, model, context, subject.parent_id)
            remember, comment_id = subject.remember, comment_key(subject.article_id, subject.text)
        whole = service.classify(model, context, [Comment(comment_id, subject.text, parent_id)], remember)
        if spans:
            parts = [Comment(f"span{i}", subject.text[begin:end]) for i, (begin, end) in enumerate(spans)]
            answers = list(await asyncio.gather(whole, service.classify(model, context, parts, False)))
        else:
            answers = [await whole]
        result = json.loads(answers[0])["results"][0]
        span_scores = [r["scores"] for r in json.loads(answers[1])["results"]] if spans else []
        return Verdict(comment_id=comment_id if remember else None, label=result["label"], action=result["action"],
                       scores=result["scores"], reasons=result["reasons"], spam_only=subject.article_id is None,
                       spans=span_scores)

    def _blank_context(self, model: LoadedModel) -> ArticleContext:
        """An article with no title and no body: classifying under it never changes it (nothing is remembered)."""
        context = self._blank.get(model)
        if context is None:
            context = self._blank[model] = model.bundle.article_context(Article(id=NO_ARTICLE, title="", body=""))
        return context


async def _known_parent(service: Service, model: LoadedModel, context: ArticleContext,
                        parent_id: str | None) -> str | None:
    """The parent if the service knows it under this article, else None: the comment is then judged as a
    top-level one (a platform's parent id names a comment we may never have seen, and /classify would refuse)."""
    if not parent_id or context.knows(parent_id):
        return parent_id or None
    await run_in_threadpool(service.contexts.find_parents, model, context, [parent_id])
    return parent_id if context.knows(parent_id) else None


async def decision_id(service: Service, article_id: str, text: str) -> str:
    """The id a decision about this text under this article is stored under: what /classify or an integration
    classified it as (`Service.find_classified`), else its `comment_key`."""
    found = await run_in_threadpool(service.find_classified, article_id, text)
    return found or comment_key(article_id, text)


async def record(service: Service, decisions: list[NewDecision]) -> int:
    """Store decisions (all or none; DecisionError names the first bad one); returns how many."""
    return await run_in_threadpool(service.record_decisions, decisions)
