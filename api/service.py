"""The moderation service behind the routes: the loaded model, article contexts, storage and the batcher.

The current model is one `LoadedModel` (bundle + its cache of article contexts) held in one attribute, so a
reload is one assignment: requests that already took the old one finish on it, new requests take the new one.
Contexts belong to a bundle (they hold that bundle's vectors), so a new bundle starts with an empty cache and
rebuilds each article's context from the database when the article is next used.

Blocking work (loading a bundle, building a context, SQLite) runs in worker threads, never on the event loop:
routes call these methods through `run_in_threadpool`, except the cache look-ups, which are dictionary reads.
Classification itself is CPU work in one process either way: the batcher runs a batch of small requests (about
a millisecond) on the loop and larger ones in its thread (see `api.batcher`).
"""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

from api.batcher import Job, MicroBatcher
from api.errors import NoModelError, UnknownArticleError
from api.metrics import Metrics
from api.settings import Settings
from api.store import ArticleStore, StoredComment
from model.bundle import ModelBundle
from model.context import MAX_REMEMBERED, ArticleContext
from model.errors import BundleError, ClassifyError
from model.linking import check_no_parent_cycles
from model.types import Article, Classification, Comment

logger = logging.getLogger(__name__)

#: Stored comments replayed per classify call when an article's context is rebuilt.
_REPLAY_CHUNK = 500


class ContextCache:
    """Article contexts by article id, least recently used evicted first; safe to share between threads.

    `epoch` grows on every invalidation; a context built from data read before an invalidation is not cached
    (`put` compares epochs), so a PUT racing a cache miss can never leave the old article in the cache.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, ArticleContext] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    def get(self, article_id: str) -> ArticleContext | None:
        with self._lock:
            context = self._items.get(article_id)
            if context is not None:
                self._items.move_to_end(article_id)
            return context

    def put(self, article_id: str, context: ArticleContext, epoch: int) -> None:
        with self._lock:
            if epoch != self._epoch:
                return
            self._items[article_id] = context
            self._items.move_to_end(article_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def invalidate(self, article_id: str) -> None:
        with self._lock:
            self._items.pop(article_id, None)
            self._epoch += 1

    def __len__(self) -> int:
        return len(self._items)


class BuiltUnder:
    """The deletion count of its article (`ArticleStore.deletions`) that each live context was built under.

    What a request remembers is stored with the count of the context it was classified in, so a DELETE that
    lands while the request is being classified (or while the context is being built) drops its writes.
    Keyed by identity, as contexts are mutable and unhashable; an entry is used only while its context lives,
    and dead entries are swept once the registry has doubled since the last sweep.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[ArticleContext], int]] = {}
        self._lock = threading.Lock()
        self._sweep_at = 1024

    def note(self, context: ArticleContext, deletions: int) -> None:
        with self._lock:
            self._entries[id(context)] = (weakref.ref(context), deletions)
            if len(self._entries) >= self._sweep_at:
                self._entries = {key: entry for key, entry in self._entries.items() if entry[0]() is not None}
                self._sweep_at = max(1024, 2 * len(self._entries))

    def get(self, context: ArticleContext) -> int | None:
        entry = self._entries.get(id(context))
        return entry[1] if entry is not None and entry[0]() is context else None


@dataclass(eq=False)
class LoadedModel:
    """A bundle being served and the article contexts computed with it."""

    bundle: ModelBundle
    contexts: ContextCache
    build_lock: threading.Lock = field(default_factory=threading.Lock)

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

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = ArticleStore(settings.database_path)
        self.batcher = MicroBatcher(
            max_comments=max(settings.batch_max_comments, settings.max_comments),
            on_results=self._served, on_batch=self._batch_done,
        )
        self.model: LoadedModel | None = None
        self.load_error = "the model has not been loaded yet"
        self.generation = 0
        self._reload_lock = threading.Lock()
        self._built_under = BuiltUnder()

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
        return LoadedModel(bundle=bundle, contexts=ContextCache(self.settings.context_cache_size))

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

    # -- articles ---------------------------------------------------------------------------------------------
    def cached_context(self, model: LoadedModel, article_id: str, title: str | None,
                       body: str | None) -> ArticleContext | None:
        """The cached context for this article (and, if given inline, this content); None on a miss."""
        context = model.contexts.get(article_id)
        if context is None:
            return None
        if title is not None and (context.article.title != title or context.article.body != (body or "")):
            return None
        return context

    def build_context(self, model: LoadedModel, article_id: str, title: str | None,
                      body: str | None) -> ArticleContext:
        """Build (or find) the context of an article: its vectors and its thread, replayed from the database.

        An article sent inline is stored when it differs from the stored one, so later requests can send its
        id alone and the stored thread belongs to the content it was classified under. Blocking.
        """
        with model.build_lock:  # one build at a time: two misses for one article build it once
            context = self.cached_context(model, article_id, title, body)
            if context is not None:
                return context
            epoch = model.contexts.epoch
            # Read before the article and its thread: a DELETE after this point, even one that commits before
            # those reads, makes this context's writes stale, never the other way round.
            deletions = self.store.deletions(article_id)
            if title is None:
                article = self.store.get_article(article_id)
                if article is None:
                    raise UnknownArticleError(article_id)
            else:
                article = Article(id=article_id, title=title, body=body or "")
                if self.store.get_article(article_id) != article:
                    self.store.put_article(article)
            context = model.bundle.article_context(article)
            self._replay(model.bundle, context, self.store.recent_comments(article_id, MAX_REMEMBERED))
            self._built_under.note(context, deletions)
            model.contexts.put(article_id, context, epoch)
            return context

    def _replay(self, bundle: ModelBundle, context: ArticleContext, stored: list[StoredComment]) -> None:
        """Make stored comments the context's thread again (their parents do not matter for that)."""
        for start in range(0, len(stored), _REPLAY_CHUNK):
            chunk = [Comment(id=c.id, text=c.text) for c in stored[start:start + _REPLAY_CHUNK]]
            try:
                bundle.classify(context.article, chunk, context=context, explain=False, remember=True)
            except ClassifyError as error:  # e.g. a text that a newer normalisation empties: skip that chunk
                logger.warning("could not replay %d stored comments of %r: %s", len(chunk), context.article.id, error)

    def put_article(self, article: Article) -> bool:
        """Store an article and forget what was computed from its previous version; True when new."""
        created = self.store.put_article(article)
        model = self.model
        if model is not None:
            model.contexts.invalidate(article.id)
        return created

    def delete_article(self, article_id: str) -> bool:
        """Forget an article, its stored comments and those still on their way (see `ArticleStore`)."""
        deleted = self.store.delete_article(article_id)
        model = self.model
        if model is not None:
            model.contexts.invalidate(article_id)
        return deleted

    # -- classification ---------------------------------------------------------------------------------------
    async def classify(self, model: LoadedModel, context: ArticleContext, comments: list[Comment],
                       remember: bool) -> bytes:
        """The JSON answer for these comments, from the micro-batcher; ClassifyError (a 422) for replies that
        form a cycle, checked here so that such a request fails alone, before it joins a batch."""
        check_no_parent_cycles([c.id for c in comments], [c.parent_id for c in comments])
        return await self.batcher.submit(model.bundle, model.version, context, comments, remember)

    def _served(self, job: Job, results: list[Classification]) -> None:
        self.metrics.served(results)
        if job.remember:
            deletions = self._built_under.get(job.context)
            if deletions is None:  # every context comes from build_context, which notes it: a bug of ours
                logger.error("not storing %d comments: unknown context for %r", len(job.comments),
                             job.context.article.id)
                return
            self.store.add_comments(
                job.context.article.id,
                [StoredComment(id=c.id, text=c.text, parent_id=c.parent_id) for c in job.comments],
                deletions=deletions,
            )

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
