"""SQLite storage for articles, the comments the service has seen and their vectors, so a restart keeps all.

Articles are written synchronously (PUT answers after the commit). Classified comments are written behind the
request by `api.comment_writer` (one transaction per 0.1 s), with their term vectors, which `api.thread_store`
keeps beside per-article sums so that a context is rebuilt without analysing a stored text again.

Everything that several worker processes must agree on lives here: articles, comments, vectors and sums, each
article's deletion count (which orders DELETEs before the writes they must drop) and its version (which every
cached context compares per request), and the model-reload generation.

Three connections: one for writes (the writer, PUT, DELETE, pruning), one for reads from worker threads, and one
for the per-request state check on the event loop, so that neither read waits behind a write transaction
(WAL lets readers go on while one connection writes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api import decisions, review_queue, thread_store
from api.article_urls import url_key
from api.comment_writer import CommentWriter
from api.decisions import ClassifiedComment, NewDecision
from api.thread_store import ArticleState, FoundComment, NewComment, SparseVector, StoredThread
from model.types import Article

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    parent_id TEXT,
    created_at REAL NOT NULL,
    origin TEXT,
    UNIQUE (article_id, id)
);
CREATE TABLE IF NOT EXISTS article_deletions (
    article_id TEXT PRIMARY KEY,
    deletions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS model_reloads (
    generation INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    requested_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredComment:
    id: str
    text: str
    parent_id: str | None
    vector: SparseVector | None = None  # its term vector in the space it is stored for


def _migrate_articles(db: sqlite3.Connection) -> None:
    """Articles stored before they had an address get the columns (NULL: no address)."""
    db.execute("BEGIN IMMEDIATE")
    columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
    for column in ("url", "url_key"):
        if column not in columns:
            db.execute(f"ALTER TABLE articles ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS articles_by_url ON articles (url_key)")
    db.execute("COMMIT")


class StoreError(OSError):
    """Raised when the database file cannot be opened, read or written; the message names the file."""


_PRUNE_CHUNK = 1000  # comments per pruning transaction: other writers get the database between two


class ArticleStore:
    """Articles by id, the comments known under each with their vectors, and what worker processes share.

    `max_comments_per_article` prunes an article's oldest comments past it (in the transaction that stores new
    ones); `clock` gives the time comments are stored at, which retention compares with (a seam for tests).
    """

    def __init__(self, path: Path, *, max_comments_per_article: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(path)
            self._db.executescript(_SCHEMA)
            _migrate_articles(self._db)
            thread_store.migrate(self._db)
            decisions.migrate(self._db)
            self._reads = self._open(path)
            self._probe = self._open(path)
            stat = os.stat(path)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot open the database {path}: {error}; its folder must exist (or be creatable) and be "
                "writable: choose another with --database or MODERATE_DATABASE_PATH"
            ) from error
        self._identity = (stat.st_dev, stat.st_ino)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._writer = CommentWriter(self._connection, cap=max_comments_per_article, clock=clock)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        # Autocommit mode: every statement commits unless a transaction is opened explicitly.
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextmanager
    def _use(self, db: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
        """A connection, held exclusively; database errors become StoreError naming the file."""
        with lock:
            try:
                yield db
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):  # a closed connection cannot even say (a 503, not a 500)
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                raise StoreError(f"database {self.path}: {error}") from error

    def _connection(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._use(self._db, self._lock)

    def _reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._use(self._reads, self._read_lock)

    def check_file(self) -> None:
        """Raise StoreError when the database file is gone or another file took its place since start-up.

        SQLite keeps writing to the file it opened, so a deleted file loses everything at the next restart
        and a replaced one is not what the service writes to: both must stop the service being ready.
        """
        where = os.path.abspath(self.path)
        try:
            stat = os.stat(self.path)
        except OSError:
            raise StoreError(
                f"the database file {where} is missing: it was deleted or moved while the service ran, so what "
                "is stored from now on would be lost at the next restart; restart the service"
            ) from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise StoreError(
                f"the database file {where} was replaced while the service ran: the service still writes to "
                "the file it opened; restart the service to use the new one"
            )

    # -- articles -----------------------------------------------------------------------------------------
    def put_article(self, article: Article, url: str | None = None) -> tuple[bool, int]:
        """Store or replace an article (and its address, which the integrations look it up by); returns
        (whether it is new, its version before this change)."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            existed = db.execute("SELECT 1 FROM articles WHERE id = ?", (article.id,)).fetchone()
            before = thread_store.article_state(db, article.id).version
            db.execute(
                "INSERT INTO articles (id, title, body, updated_at, url, url_key) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, "
                "updated_at = excluded.updated_at, url = excluded.url, url_key = excluded.url_key",
                (article.id, article.title, article.body, time.time(), url, url_key(url) if url else None),
            )
            db.execute("INSERT INTO article_state (article_id, version, last_seq, comments) VALUES (?, 1, 0, 0) "
                       "ON CONFLICT (article_id) DO UPDATE SET version = version + 1", (article.id,))
            db.execute("COMMIT")
        return existed is None, before

    def get_article(self, article_id: str) -> Article | None:
        with self._reading() as db:
            row = db.execute("SELECT title, body FROM articles WHERE id = ?", (article_id,)).fetchone()
        return None if row is None else Article(id=article_id, title=row[0], body=row[1])

    def article_url(self, article_id: str) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT url FROM articles WHERE id = ?", (article_id,)).fetchone()
        return None if row is None else row[0]

    def find_article_id(self, article_id: str | None, url: str | None) -> str | None:
        """The stored article with this id, else the one at this address (`api.article_urls`: any spelling of
        it; the latest stored first); None when neither is stored.

        Two indexed reads on the connection of the per-request state check, so the integrations call it on the
        event loop like that check: a thread hop per request would cost more than the reads (and the batching
        of concurrent requests with them).
        """
        key = url_key(url) if url else None
        with self._use(self._probe, self._probe_lock) as db:
            if article_id is not None and db.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone():
                return article_id
            row = db.execute("SELECT id FROM articles WHERE url_key = ? ORDER BY updated_at DESC LIMIT 1",
                             (key,)).fetchone() if key is not None else None
        return None if row is None else str(row[0])

    def delete_article(self, article_id: str) -> bool:
        """Forget an article, its comments and their vectors, and every comment still queued for it; True when
        there was an article or a comment under its id.

        Comments classified before this call (queued, being written, or still being classified) never land
        after it: they carry the old deletion count, which this transaction raises.
        """
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            deleted = db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
            deleted += db.execute("DELETE FROM comments WHERE article_id = ?", (article_id,)).rowcount
            thread_store.forget_article(db, article_id)
            decisions.forget(db, article_id)
            db.execute(
                "INSERT INTO article_deletions (article_id, deletions) VALUES (?, 1) "
                "ON CONFLICT (article_id) DO UPDATE SET deletions = deletions + 1",
                (article_id,),
            )
            db.execute("COMMIT")
        return deleted > 0

    def deletions(self, article_id: str) -> int:
        """How many times this article id was deleted: read before its thread, passed to `add_comments`."""
        with self._reading() as db:
            row = db.execute("SELECT deletions FROM article_deletions WHERE article_id = ?", (article_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def article_state(self, article_id: str) -> ArticleState:
        """The article's version and newest comment: one indexed read, cheap enough for every request."""
        with self._use(self._probe, self._probe_lock) as db:
            return thread_store.article_state(db, article_id)

    # -- comments -----------------------------------------------------------------------------------------
    def add_comments(self, article_id: str, comments: Sequence[StoredComment], *, deletions: int,
                     space: str = "", origin: str = "", classified: Sequence[ClassifiedComment] = ()) -> None:
        """Queue comments for writing, each with its vector in `space`; a stored id sent again replaces it.

        `deletions` is the article's count (`deletions()`) when the thread they were classified in was read:
        if the article has been deleted since, they are dropped instead of written. `classified` (what the
        model said about them) is written in the same transaction.
        """
        self._writer.add(article_id, [NewComment(c.id, c.text, c.parent_id, c.vector) for c in comments],
                         deletions=deletions, space=space, origin=origin, classified=classified)

    def flush(self) -> None:
        """Wait until every comment queued so far is written (or the writer has ended)."""
        self._writer.flush()

    def count_comments(self, article_id: str) -> int:
        self.flush()
        with self._reading() as db:
            row = db.execute("SELECT count(*) FROM comments WHERE article_id = ?", (article_id,)).fetchone()
        return int(row[0])

    def read_thread(self, space: str, article_id: str) -> StoredThread:
        with self._reading() as db:
            return thread_store.read_thread(db, space, article_id)

    def read_new(self, space: str, article_id: str, *, after: int, upto: int, origin: str,
                 limit: int) -> list[tuple[str, SparseVector]] | None:
        with self._reading() as db:
            return thread_store.read_new(db, space, article_id, after=after, upto=upto, origin=origin, limit=limit)

    def find_comments(self, space: str, article_id: str, ids: Sequence[str]) -> list[FoundComment]:
        with self._reading() as db:
            return thread_store.find_comments(db, space, article_id, ids)

    def backfill_texts(self, article_id: str) -> list[tuple[int, str]]:
        with self._reading() as db:
            return thread_store.backfill_texts(db, article_id)

    def backfill(self, space: str, article_id: str, items: Sequence[tuple[int, str, SparseVector]]) -> bool:
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            stored = thread_store.backfill(db, space, article_id, items)
            db.execute("COMMIT")
        return stored

    def delete_comment(self, article_id: str, comment_id: str) -> bool:
        """Forget one comment of an article: its text, its vectors, its share of the thread sums.

        What this process queued before is written first, so a comment classified just before is deleted too.
        """
        self.flush()
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT seq FROM comments WHERE article_id = ? AND id = ?",
                             (article_id, comment_id)).fetchone()
            removed = thread_store.remove_comments(db, article_id, [int(row[0])]) if row is not None else 0
            decisions.forget(db, article_id, comment_id)
            db.execute("COMMIT")
        return removed > 0

    def prune(self, *, older_than: float) -> int:
        """Remove comments stored before `older_than` (a time from the store's clock); returns how many."""
        pruned = 0
        while True:
            with self._connection() as db:
                db.execute("BEGIN IMMEDIATE")
                removed = thread_store.prune_older(db, older_than, _PRUNE_CHUNK)
                if removed < _PRUNE_CHUNK:
                    decisions.prune_older(db, older_than)
                db.execute("COMMIT")
            pruned += removed
            if removed < _PRUNE_CHUNK:
                if pruned and self._writer.on_pruned is not None:
                    self._writer.on_pruned(None)  # which articles is not known here: all of them
                return pruned

    def on_pruned(self, listener: Callable[[set[str] | None], None]) -> None:
        """Call `listener` with the articles that lost stored comments to the cap or retention (None: any)."""
        self._writer.on_pruned = listener

    def now(self) -> float:
        return self._clock()

    # -- the moderation loop (api.decisions, api.review_queue) ----------------------------------------------
    def record_decisions(self, new: Sequence[NewDecision], *, labels: Sequence[str]) -> list[tuple[str, str | None]]:
        """Store moderators' decisions, all or none (DecisionError names the first bad one).

        The comments queued so far are written first, so a decision about a comment classified a moment ago
        finds what the model said about it.
        """
        self.flush()
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = decisions.store_decisions(db, new, labels=labels, now=self._clock())
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return stored

    def classified_label(self, article_id: str, comment_id: str) -> str | None:
        """The label of the latest classification of a remembered comment; None when it was never classified."""
        self.flush()
        with self._reading() as db:
            row = db.execute("SELECT label FROM classifications WHERE article_id = ? AND comment_id = ?",
                             (article_id, comment_id)).fetchone()
        return None if row is None else str(row[0])

    def find_classified(self, article_id: str, text: str) -> str | None:
        self.flush()
        with self._reading() as db:
            return decisions.find_classified(db, article_id, text)

    def queue_page(self, *, article_id: str | None, limit: int,
                   cursor: str | None) -> tuple[list[dict[str, Any]], str | None, int]:
        """A page of the review queue, the next page's cursor, and how many comments wait in all."""
        self.flush()
        with self._reading() as db:
            items, next_cursor = review_queue.queue_page(db, article_id=article_id, limit=limit, cursor=cursor)
            return items, next_cursor, review_queue.pending(db, article_id)

    def agreement(self, *, since: float) -> dict[str, Any]:
        self.flush()
        with self._reading() as db:
            figures = review_queue.agreement(db, since=since)
            figures["queue"] = review_queue.pending(db, None)
        return figures

    # -- model generation (hot reload across worker processes) ---------------------------------------------
    def record_reload(self, version: str) -> int:
        """Note that the model was reloaded; returns the new generation, which other workers follow."""
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO model_reloads (version, requested_at) VALUES (?, ?)", (version, time.time())
            )
        return int(cursor.lastrowid or 0)

    def reload_generation(self) -> int:
        with self._reading() as db:
            row = db.execute("SELECT coalesce(max(generation), 0) FROM model_reloads").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Write what is queued and close the database."""
        self._writer.close()
        for db, lock in ((self._db, self._lock), (self._reads, self._read_lock), (self._probe, self._probe_lock)):
            with lock:
                db.close()
