"""The moderation service behind the routes: the loaded model, article contexts, storage and the batcher.

The current model is one `LoadedModel` (bundle + its cache of article contexts) held in one attribute, so a
reload is one assignment: requests that already took the old one finish on it, new requests take the new one.
Contexts belong to a bundle (they hold that bundle's vectors), so a new bundle starts with an empty cache and
rebuilds each article's context from the database when the article is next used: from stored vectors and sums,
never by analysing stored texts again (`api.contexts`, `api.thread_store`). The database is also what several
worker processes share; each request checks that its cached context is still in step with it.

Blocking work (loading a bundle, building a context, SQLite) runs in worker threads, never on the event loop:
routes call these methods through `run_in_threadpool`, except the cache look-ups, which are a dictionary read
and one indexed SQLite read on a connection of their own (about 8 µs; WAL readers never wait for a writer).
Classification itself is CPU work in one process either way: the batcher runs a batch of small requests (about
a millisecond) on the loop and larger ones in its thread (see `api.batcher`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from api.batcher import Job, MicroBatcher
from api.contexts import BuiltUnder, ContextCache, ContextKeeper, vector_space
from api.decisions import ClassifiedComment, NewDecision
from api.errors import NoModelError
from api.metrics import Metrics
from api.settings import Settings
from api.store import ArticleStore, StoredComment
from model.bundle import ModelBundle
from model.context import ArticleContext
from model.errors import BundleError
from model.linking import check_no_parent_cycles
from model.types import Article, Classification, Comment

logger = logging.getLogger(__name__)

@dataclass(eq=False)
class LoadedModel:
    """A bundle being served and the article contexts computed with it."""

    bundle: ModelBundle
    contexts: ContextCache
    space: str  # what its comment vectors are stored under (`api.contexts.vector_space`)

    @property
    def version(self) -> str:
        return self.bundle.version

    def info(self) -> dict[str, Any]:
        metadata = self.bundle.metadata
        return {
            "version": self.version,
            "labels": list(self.bundle.labels),
            "thresholds": self.bundle.thresholds.to_dict(),
            "created_at": metadata.get("created_at"),
            "validation": _as_dict(metadata.get("validation")),
            "training_data": _as_dict(metadata.get("training_data")),
            "library_versions": {str(k): str(v) for k, v in _as_dict(metadata.get("library_versions")).items()},
        }


class Service:
    """Everything a request needs, created in the app's lifespan and closed at shutdown."""

    def __init__(self, settings: Settings, metrics: Metrics, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = ArticleStore(settings.database_path, max_comments_per_article=settings.max_comments_per_article,
                                  clock=clock)
        self.batcher = MicroBatcher(
            max_comments=max(settings.batch_max_comments, settings.max_comments),
            on_results=self._served, on_batch=self._batch_done,
        )
        self.model: LoadedModel | None = None
        self.load_error = "the model has not been loaded yet"
        self.generation = 0
        self._reload_lock = threading.Lock()
        self._built_under = BuiltUnder()
        self.contexts = ContextKeeper(self.store, self._built_under,
                                      store_inline_articles=settings.store_inline_articles,
                                      shared_database=settings.shared_database)
        # Alone, this process's memory is the truth, so what pruning removed must leave it too (with a shared
        # database every request sees it through the article's version).
        self.store.on_pruned(self._forget_pruned)

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the batcher and load the model; a missing or broken bundle leaves the service up, not ready."""
        # A request's matrices are tiny: BLAS threads only spin (one took a whole core under load).
        threadpool_limits(limits=1)
        self.generation = self.store.reload_generation()
        self.batcher.start()
        try:
            self._swap(self._load())
        except BundleError as error:
            self.load_error = str(error)
            logger.warning("serving without a model: %s", error)

    def close(self) -> None:
        self.batcher.stop()
        self.store.close()

    def reload(self, *, record: bool = True) -> tuple[str | None, str]:
        """Load the bundle at the model path again and swap it in; returns (old version, new version).

        Raises BundleError and keeps the old model when the new bundle cannot be loaded. `record` tells the
        other worker processes (through the database) to follow.
        """
        with self._reload_lock:
            old = self.model.version if self.model is not None else None
            try:
                loaded = self._load()
            except BundleError:
                self.metrics.reloads.labels("failed").inc()
                raise
            self._swap(loaded)
            if record:
                self.generation = self.store.record_reload(loaded.version)
            self.metrics.reloads.labels("loaded").inc()
            logger.info("model reloaded: %s -> %s", old, loaded.version)
            return old, loaded.version

    def follow_reloads(self) -> bool:
        """Reload when another worker recorded a reload since ours; True when this worker reloaded."""
        generation = self.store.reload_generation()
        if generation <= self.generation:
            return False
        self.generation = generation
        try:
            self.reload(record=False)
        except BundleError as error:
            logger.error("could not follow a reload of another worker: %s", error)
            return False
        return True

    def _load(self) -> LoadedModel:
        bundle = ModelBundle.load(self.settings.model_path)
        return LoadedModel(bundle=bundle, contexts=ContextCache(self.settings.context_cache_size),
                           space=vector_space(bundle))

    def _swap(self, loaded: LoadedModel) -> None:
        self.model = loaded  # one assignment: requests holding the old LoadedModel finish on it
        self.load_error = ""
        self.metrics.model_loaded(loaded.version)
        _settle_heap()

    def require_model(self) -> LoadedModel:
        model = self.model
        if model is None:
            path = self.settings.model_path
            hint = "" if "moderate train" in self.load_error else f"; train one with `moderate train --out {path}`"
            raise NoModelError(f"no model is loaded: {self.load_error}{hint}; then POST /admin/reload")
        return model

    def check_ready(self) -> LoadedModel:
        """The model, if the service can answer /classify: NoModelError, or StoreError for a database file that
        was deleted or replaced under the running service."""
        self.store.check_file()
        return self.require_model()

    # -- articles ---------------------------------------------------------------------------------------------
    def cached_context(self, model: LoadedModel, article_id: str, title: str | None,
                       body: str | None) -> ArticleContext | None:
        """The cached context for this article (and, if given inline, this content) if still in step with the
        database; None otherwise (then `build_context`)."""
        return self.contexts.cached(model, article_id, title, body)

    def build_context(self, model: LoadedModel, article_id: str, title: str | None,
                      body: str | None) -> ArticleContext:
        """Build (or bring up to date) the context of an article from the database. Blocking.

        See `ContextKeeper.build`: it costs what this request sends and a bounded read, never a re-analysis
        of the comments other requests stored.
        """
        return self.contexts.build(model, article_id, title, body)

    def put_article(self, article: Article, url: str | None = None) -> bool:
        """Store an article (at its address, when given) and forget what was computed from its previous version;
        True when new."""
        created, _ = self.store.put_article(article, url)
        self._invalidate(article.id)
        return created

    def delete_article(self, article_id: str) -> bool:
        """Forget an article, its stored comments and those still on their way (see `ArticleStore`)."""
        deleted = self.store.delete_article(article_id)
        self._invalidate(article_id)
        return deleted

    def delete_comment(self, article_id: str, comment_id: str) -> bool:
        """Forget one stored comment (text, vectors, its share of the thread); False when there is none."""
        deleted = self.store.delete_comment(article_id, comment_id)
        self._invalidate(article_id)
        return deleted

    def prune(self) -> int:
        """Remove stored comments older than MODERATE_RETENTION_DAYS; returns how many. Blocking.

        The per-article cap is kept by the writer as it stores comments; other workers see both through the
        articles' versions.
        """
        days = self.settings.retention_days
        if days <= 0:
            return 0
        pruned = self.store.prune(older_than=self.store.now() - days * 86_400.0)
        if pruned:
            logger.info("pruned %d comments stored more than %g days ago", pruned, days)
        return pruned

    def _forget_pruned(self, article_ids: set[str] | None) -> None:
        model = self.model
        if model is None:
            return
        if article_ids is None:
            model.contexts.clear()
        else:
            for article_id in article_ids:
                model.contexts.invalidate(article_id)

    def _invalidate(self, article_id: str) -> None:
        model = self.model
        if model is not None:
            model.contexts.invalidate(article_id)

    # -- classification ---------------------------------------------------------------------------------------
    async def classify(self, model: LoadedModel, context: ArticleContext, comments: list[Comment],
                       remember: bool) -> bytes:
        """The JSON answer for these comments, from the micro-batcher; ClassifyError (a 422) for replies that
        form a cycle, checked here so that such a request fails alone, before it joins a batch.

        A parent that is neither in the request nor in the context's memory is looked up in the database
        first. With `commit_before_answer` (several worker processes), the answer waits until the comments it
        remembers are committed, so the next request sees them whichever worker it reaches.
        """
        check_no_parent_cycles([c.id for c in comments], [c.parent_id for c in comments])
        ids = {c.id for c in comments}
        missing = [c.parent_id for c in comments
                   if c.parent_id is not None and c.parent_id not in ids and not context.knows(c.parent_id)]
        if missing:
            await run_in_threadpool(self.contexts.find_parents, model, context, missing)
        again = context.held_without_vector([c.id for c in comments])  # sent again after a restart
        if again:
            await run_in_threadpool(self.contexts.find_parents, model, context, again)
        answer = await self.batcher.submit(model.bundle, model.version, context, comments, remember)
        if remember and self.settings.commit_before_answer:
            await run_in_threadpool(self.store.flush)
        return answer

    def _served(self, job: Job, results: list[Classification]) -> None:
        self.metrics.served(results)
        if job.remember:
            built = self._built_under.record(job.context)
            if built is None:  # every context comes from build_context, which notes it: a bug of ours
                logger.error("not storing %d comments: unknown context for %r", len(job.comments),
                             job.context.article.id)
                return
            article = job.context.article
            self.store.add_comments(
                article.id,
                [StoredComment(id=c.id, text=c.text, parent_id=c.parent_id, vector=job.context.known_vector(c.id))
                 for c in job.comments],
                deletions=built.deletions, space=built.space, origin=built.origin,
                classified=[ClassifiedComment(article.id, article.title, c.text, c.parent_id, result, job.version,
                                              article.body)
                            for c, result in zip(job.comments, results, strict=True)],
            )

    # -- the moderation loop ----------------------------------------------------------------------------------
    def record_decisions(self, decisions: Sequence[NewDecision]) -> int:
        """Store moderators' decisions (all or none; DecisionError names the first bad one). Blocking.

        Labels are checked against the served bundle's, so a decision is always one the next model can learn.
        """
        labels = self.require_model().bundle.labels
        stored = self.store.record_decisions(decisions, labels=labels)
        for decision, (label, action) in zip(decisions, stored, strict=True):
            self.metrics.decided(decision.source, label, action)
        return len(stored)

    def find_classified(self, article_id: str, text: str) -> str | None:
        """The id of the latest remembered comment with this text under this article (protocols without ids)."""
        return self.store.find_classified(article_id, text)

    def _batch_done(self, comments: int, seconds: float) -> None:
        self.metrics.batch_comments.observe(comments)
        self.metrics.batch_seconds.observe(seconds)


def _settle_heap() -> None:
    """Take everything alive now (the bundle, the imported libraries) out of the garbage collector's sight.

    A full collection walks every tracked object; with the model and its libraries loaded that stopped the
    event loop for 55-75 ms several times a minute under load, which was the whole p99 at concurrency 8
    (docs/benchmarks.md). Frozen objects are still freed by reference counting when a reload drops them; the
    unfreeze-collect-freeze order lets cycles among the previous model's objects be collected first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
