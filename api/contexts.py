"""The article contexts a service keeps in memory, and how each stays in step with the database.

    ContextCache   contexts by article id, least recently used evicted first
    BuiltUnder     what each live context was built under: its article's deletion count (so writes a DELETE
                   made stale are dropped), the token its writes carry, its vector space, the state it is in
                   step with
    ArticleLocks   one lock per article: building one article's context never waits for another's
    ContextKeeper  finds, builds and refreshes contexts, and finds parents in the database

Several worker processes share the database, not their memory. Every request compares its cached context with
the article's state in the database (`ArticleStore.article_state`, one indexed read): comments stored since by
anyone else are read and added (at most CATCH_UP_MAX; more, or any other change, such as a PUT, a DELETE, an
edit, a deleted or pruned comment, rebuilds the context from the stored sums). A rebuild never analyses a stored
comment text again (`api.thread_store`): its cost is bounded, whatever other requests stored.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from api.errors import UnknownArticleError
from api.store import ArticleStore
from api.thread_store import FOLD_AT, ArticleState, SparseVector
from model.bundle import ModelBundle
from model.context import ArticleContext
from model.text import normalize_text
from model.types import Article

#: A context catches up with at most this many comments stored by others; past that it is rebuilt.
CATCH_UP_MAX = FOLD_AT
#: The state of a context that must be rebuilt at its next use (no article is ever at a negative version).
_OUT_OF_STEP = ArticleState(version=-1)


def vector_space(bundle: ModelBundle) -> str:
    """A fingerprint of what a comment's term vector depends on: the bundle's hasher settings and its IDF.

    Vectors are stored under it, so a reload of a bundle with the same vectoriser finds them all, and one with
    another IDF never reads vectors it did not compute.
    """
    features = bundle.pipeline.named_steps["features"]
    digest = hashlib.sha256(repr(sorted(features.hasher_.get_params().items())).encode())
    digest.update(np.ascontiguousarray(features.idf_, dtype="<f8").tobytes())
    return digest.hexdigest()[:24]


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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._epoch += 1

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Built:
    """What a context was built under; `synced` moves on as the context catches up with the database."""

    deletions: int
    origin: str
    space: str
    synced: ArticleState
    from_store: bool  # its article is the stored one (not an inline article that was not stored)


class BuiltUnder:
    """The `Built` record of each live context, above all the deletion count (`ArticleStore.deletions`) of its
    article when it was built.

    What a request remembers is stored with the count of the context it was classified in, so a DELETE that
    lands while the request is being classified (or while the context is being built) drops its writes.
    Keyed by identity, as contexts are mutable and unhashable; an entry is used only while its context lives,
    and dead entries are swept once the registry has doubled since the last sweep.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[ArticleContext], Built]] = {}
        self._lock = threading.Lock()
        self._sweep_at = 1024

    def note(self, context: ArticleContext, deletions: int, *, origin: str = "", space: str = "",
             synced: ArticleState | None = None, from_store: bool = True) -> Built:
        built = Built(deletions=deletions, origin=origin, space=space, synced=synced or ArticleState(),
                      from_store=from_store)
        with self._lock:
            self._entries[id(context)] = (weakref.ref(context), built)
            if len(self._entries) >= self._sweep_at:
                self._entries = {key: entry for key, entry in self._entries.items() if entry[0]() is not None}
                self._sweep_at = max(1024, 2 * len(self._entries))
        return built

    def get(self, context: ArticleContext) -> int | None:
        built = self.record(context)
        return built.deletions if built is not None else None

    def record(self, context: ArticleContext) -> Built | None:
        entry = self._entries.get(id(context))
        return entry[1] if entry is not None and entry[0]() is context else None


class ArticleLocks:
    """One lock per article id, created on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, article_id: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(article_id, (None, 0))
            lock = lock or threading.Lock()
            self._locks[article_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[article_id][1] - 1
                if users:
                    self._locks[article_id] = (lock, users)
                else:
                    del self._locks[article_id]

    def __len__(self) -> int:
        return len(self._locks)


class LoadedModel(Protocol):
    """What the keeper needs of a served model (`api.service.LoadedModel`)."""

    @property
    def bundle(self) -> ModelBundle: ...
    @property
    def contexts(self) -> ContextCache: ...
    @property
    def space(self) -> str: ...


class ContextKeeper:
    """Contexts for requests: from the cache when still in step with the database, else built from it."""

    def __init__(self, store: ArticleStore, built_under: BuiltUnder, *, store_inline_articles: bool,
                 shared_database: bool = False) -> None:
        self.store = store
        self.shared_database = shared_database
        self.built_under = built_under
        self.locks = ArticleLocks()
        self.store_inline_articles = store_inline_articles
        self._prefix = secrets.token_hex(6)  # tokens unique across processes and restarts
        self._counter = itertools.count()  # next() on a count is atomic (a generator is not thread-safe)

    def _token(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"

    def cached(self, model: LoadedModel, article_id: str, title: str | None,
               body: str | None) -> ArticleContext | None:
        """The cached context for this article (and, if given inline, this content) if nothing changed in the
        database since; None otherwise. With a shared database one indexed read, cheap enough for the event
        loop; alone, none: this process's own PUT, DELETE and comment deletions invalidate its cache."""
        context = model.contexts.get(article_id)
        if context is None:
            return None
        built = self.built_under.record(context)
        if built is None or not _same_article(context, built, title, body):
            return None
        if not self.shared_database:
            return context
        return context if self.store.article_state(article_id) == built.synced else None

    def build(self, model: LoadedModel, article_id: str, title: str | None, body: str | None) -> ArticleContext:
        """Bring the article's context in step with the database, or build it from there. Blocking.

        An inline article is used as sent; it is stored only with `store_inline_articles` (when it differs
        from the stored one). An inline text other than the cached context's keeps that context's thread: only
        the article's own vectors are computed.
        """
        with self.locks.hold(article_id):  # one build per article at a time; other articles go on
            context = self.cached(model, article_id, title, body)
            if context is not None:
                return context
            epoch = model.contexts.epoch
            previous = model.contexts.get(article_id)
            built = self.built_under.record(previous) if previous is not None else None
            context = None
            if previous is not None and built is not None and (title is not None or built.from_store):
                context = self._catch_up(previous, built)
            if context is None:
                context = self._rebuild(model, article_id, title, body, previous)
            if title is not None:
                context = self._inline(model, context, Article(id=article_id, title=title, body=body or ""))
            model.contexts.put(article_id, context, epoch)
            return context

    def _catch_up(self, context: ArticleContext, built: Built) -> ArticleContext | None:
        """The same context with the comments others stored since; None when it must be rebuilt instead."""
        article_id = context.article.id
        state = self.store.article_state(article_id)
        if state.version != built.synced.version:
            return None
        if state.last_seq != built.synced.last_seq:
            rows = self.store.read_new(built.space, article_id, after=built.synced.last_seq, upto=state.last_seq,
                                       origin=built.origin, limit=CATCH_UP_MAX)
            if rows is None:
                return None
            if rows:
                context.remember([comment_id for comment_id, _ in rows], _rows([v for _, v in rows], context.width))
        built.synced = state
        return context

    def _rebuild(self, model: LoadedModel, article_id: str, title: str | None, body: str | None,
                 previous: ArticleContext | None) -> ArticleContext:
        """A context from the stored article (or the inline one) and the stored thread sums."""
        self.store.flush()  # what this process classified so far is in the database
        # Read before the article and its thread: a DELETE after this point, even one that commits before
        # those reads, makes this context's writes stale, never the other way round.
        deletions = self.store.deletions(article_id)
        if title is None:
            article = self.store.get_article(article_id)
            if article is None:
                raise UnknownArticleError(article_id)
        else:
            article = Article(id=article_id, title=title, body=body or "")
        thread = self.store.read_thread(model.space, article_id)
        if thread.total is None and thread.comments:  # none of its comments has a vector for this model yet
            self._backfill(model, article_id)
            thread = self.store.read_thread(model.space, article_id)
        if previous is not None and previous.article == article and previous.background is not None:
            context = ArticleContext(article=article, title_vector=previous.title_vector,
                                     body_vector=previous.body_vector, background=previous.background)
        else:
            context = model.bundle.article_context(article)
        if thread.total is not None:
            context.restore_thread(*thread.total, thread.count, thread.folded)
            if thread.recent:
                context.remember([comment_id for comment_id, _ in thread.recent],
                                 _rows([v for _, v in thread.recent], context.width))
        self.built_under.note(context, deletions, origin=self._token(), space=model.space,
                              synced=thread.state, from_store=title is None)
        return context

    def _backfill(self, model: LoadedModel, article_id: str) -> None:
        """Vectors for this model of the article's most recent comments, within `thread_store`'s bounds."""
        texts = self.store.backfill_texts(article_id)
        if texts:
            vectors = _vectorize(model.bundle, [text for _, text in texts])
            self.store.backfill(model.space, article_id, [(seq, text, vector) for (seq, text), vector
                                                          in zip(texts, vectors, strict=True)])

    def _inline(self, model: LoadedModel, context: ArticleContext, article: Article) -> ArticleContext:
        """The context for an article sent inline: this one, or a new one with its vectors and this thread."""
        built = self.built_under.record(context)
        assert built is not None  # every context here was noted by _rebuild or by this method
        synced = built.synced
        if self.store_inline_articles and self.store.get_article(article.id) != article:
            _, before = self.store.put_article(article)
            # Our own PUT moves the version on: still in step if nothing else had changed before it.
            synced = ArticleState(before + 1, synced.last_seq) if before == synced.version else _OUT_OF_STEP
        # With storing on, the stored article is this one now; else only if it was and this is its text.
        from_store = self.store_inline_articles or (built.from_store and context.article == article)
        if context.article == article and (synced, from_store) == (built.synced, built.from_store):
            return context
        fresh = context
        if context.article != article:
            fresh = model.bundle.article_context(article)
            fresh.adopt_thread(context)  # comment vectors do not depend on the article: the thread stays
        self.built_under.note(fresh, built.deletions, origin=self._token(), space=built.space, synced=synced,
                              from_store=from_store)
        return fresh

    def find_parents(self, model: LoadedModel, context: ArticleContext, parent_ids: Sequence[str]) -> None:
        """Make stored comments that replies name known to the context (those older than its memory holds).

        A parent with a vector for this model that the context's thread already counts is recalled; any other
        (stored later by someone else, or with no vector for this model) becomes a parent outside the thread,
        analysed from its text when it has no vector: one text per reply, bounded by the request.
        """
        built = self.built_under.record(context)
        if built is None:
            return
        self.store.flush()  # a parent this process classified a moment ago
        found = self.store.find_comments(built.space, context.article.id, list(dict.fromkeys(parent_ids)))
        texts = [comment for comment in found if comment.vector is None]
        for comment in found:
            if comment.vector is not None and comment.seq <= built.synced.last_seq:
                context.recall(comment.id, comment.vector)
            elif comment.vector is not None:
                context.add_parent(comment.id, comment.vector)
        if texts:
            for comment, vector in zip(texts, _vectorize(model.bundle, [c.text for c in texts]), strict=True):
                context.add_parent(comment.id, vector)


def _same_article(context: ArticleContext, built: Built, title: str | None, body: str | None) -> bool:
    if title is None:
        return built.from_store
    return context.article.title == title and context.article.body == (body or "")


def _vectorize(bundle: ModelBundle, texts: list[str]) -> list[SparseVector]:
    """Term vectors of stored texts, as the model computes them for a request."""
    rows, _ = bundle.pipeline.named_steps["features"].vectorize([normalize_text(text) for text in texts])
    rows.sort_indices()
    return [(rows.indices[rows.indptr[i]:rows.indptr[i + 1]].astype(np.int32),
             rows.data[rows.indptr[i]:rows.indptr[i + 1]].astype(np.float64)) for i in range(rows.shape[0])]


def _rows(vectors: Sequence[SparseVector], width: int) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum([len(v[0]) for v in vectors])])
    indices = np.concatenate([v[0] for v in vectors]).astype(np.int32, copy=False)
    data = np.concatenate([v[1] for v in vectors]).astype(np.float64, copy=False)
    return sp.csr_matrix((data, indices, indptr), shape=(len(vectors), width))
