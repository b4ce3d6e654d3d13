"""SQLite storage for articles and the comments the service has seen, so a restart keeps both.

Articles are written synchronously (PUT answers after the commit). Classified comments are written behind the
request by one writer thread, in one transaction per 0.1 s: the comment-posting path should not wait for a
disk commit, and losing the last few comments in a crash only costs thread context, never a decision.
`flush()` waits for the writer, so a context rebuilt from the database sees every comment classified before it.

A DELETE must not be undone by writes still queued (or still being classified) for the article it deletes. Each
article id counts its deletions in the database; comments are queued with the count their article had when
the service read the article's thread (`deletions`), and the writer, inside the transaction that inserts them,
drops those whose article was deleted since. A DELETE therefore needs no flush, and it orders writes across
worker processes too, since they share the database.

One connection, guarded by a lock: the service's database work is small and rare next to classification, and
one connection keeps SQLite's threading rules simple. WAL lets other worker processes read while one writes.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


class StoreError(OSError):
    """Raised when the database file cannot be opened, read or written; the message names the file."""


_Batch = tuple[str, int, Sequence[StoredComment]]  # article id, its deletions when classified, comments
_WRITE_LINGER_SECONDS = 0.1
_ROWS_PER_INSERT = 500  # 5 values a row, within SQLite's 32,766 variables per statement
_IDS_PER_QUERY = 500


class ArticleStore:
    """Articles by id, the comments known under each, and the model-reload generation shared by workers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every statement commits unless a transaction is opened explicitly.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot open the database {path}: {error}; its folder must exist (or be creatable) and be "
                "writable: choose another with --database or MODERATE_DATABASE_PATH"
            ) from error
        self._lock = threading.Lock()
        # Comments waiting for the writer: appended by requests, taken whole by the writer (one swap, not one
        # queue operation per request), with counters so that flush() knows when what it saw is written.
        self._pending: list[_Batch] = []
        self._queued = 0
        self._written = 0
        self._closing = False
        self._progress = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._writer = threading.Thread(target=self._write_comments, name="comment-writer", daemon=True)
        self._writer.start()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, held exclusively; database errors become StoreError naming the file."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):  # a closed connection cannot even say (a 503, not a 500)
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                raise StoreError(f"database {self.path}: {error}") from error

    # -- articles -----------------------------------------------------------------------------------------
    def put_article(self, article: Article) -> bool:
        """Store or replace an article; True when it is new."""
        with self._connection() as db:
            existed = db.execute("SELECT 1 FROM articles WHERE id = ?", (article.id,)).fetchone()
            db.execute(
                "INSERT INTO articles (id, title, body, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, "
                "updated_at = excluded.updated_at",
                (article.id, article.title, article.body, time.time()),
            )
        return existed is None

    def get_article(self, article_id: str) -> Article | None:
        with self._connection() as db:
            row = db.execute("SELECT title, body FROM articles WHERE id = ?", (article_id,)).fetchone()
        return None if row is None else Article(id=article_id, title=row[0], body=row[1])

    def delete_article(self, article_id: str) -> bool:
        """Forget an article and its comments, and every comment still queued for it; True when it existed.

        Comments classified before this call (queued, being written, or still being classified) never land
        after it: they carry the old deletion count, which this transaction raises.
        """
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            deleted = db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
            db.execute("DELETE FROM comments WHERE article_id = ?", (article_id,))
            db.execute(
                "INSERT INTO article_deletions (article_id, deletions) VALUES (?, 1) "
                "ON CONFLICT (article_id) DO UPDATE SET deletions = deletions + 1",
                (article_id,),
            )
            db.execute("COMMIT")
        return deleted > 0

    def deletions(self, article_id: str) -> int:
        """How many times this article id was deleted: read before its thread, passed to `add_comments`."""
        with self._connection() as db:
            row = db.execute("SELECT deletions FROM article_deletions WHERE article_id = ?", (article_id,)).fetchone()
        return 0 if row is None else int(row[0])

    # -- comments -----------------------------------------------------------------------------------------
    def add_comments(self, article_id: str, comments: Sequence[StoredComment], *, deletions: int) -> None:
        """Queue comments for writing; the first text stored under an (article, comment) id is kept.

        `deletions` is the article's count (`deletions()`) when the thread they were classified in was read:
        if the article has been deleted since, they are dropped instead of written.
        """
        if comments:
            with self._progress:
                self._pending.append((article_id, deletions, comments))
                self._queued += 1
            if not self._wake.is_set():
                self._wake.set()

    def recent_comments(self, article_id: str, limit: int) -> list[StoredComment]:
        """The last `limit` comments stored under an article, oldest first."""
        self.flush()
        with self._connection() as db:
            rows = db.execute(
                "SELECT id, text, parent_id FROM comments WHERE article_id = ? ORDER BY seq DESC LIMIT ?",
                (article_id, limit),
            ).fetchall()
        return [StoredComment(id=r[0], text=r[1], parent_id=r[2]) for r in reversed(rows)]

    def count_comments(self, article_id: str) -> int:
        self.flush()
        with self._connection() as db:
            row = db.execute("SELECT count(*) FROM comments WHERE article_id = ?", (article_id,)).fetchone()
        return int(row[0])

    def flush(self) -> None:
        """Wait until every comment queued so far is written (or the writer has ended)."""
        with self._progress:
            target = self._queued
            self._hurry.set()
            self._wake.set()
            while self._written < target and self._writer.is_alive():
                self._progress.wait(timeout=0.5)

    def _write_comments(self) -> None:
        while True:
            self._wake.wait()
            if not self._closing:
                # Linger before writing: requests keep queueing meanwhile without waking this thread, so a
                # busy service writes one transaction per interval, not one per request (waking the writer,
                # and contending for the GIL, once per request was a third of the classifier's time).
                # A flush() cuts the wait short.
                self._hurry.wait(timeout=_WRITE_LINGER_SECONDS)
            with self._progress:
                self._hurry.clear()
                batch, self._pending = self._pending, []
                if not self._closing:
                    self._wake.clear()
                closing = self._closing
            if batch:
                self._write_batch(batch)
            with self._progress:
                self._written += len(batch)
                self._progress.notify_all()
            if closing and not batch:
                return

    def _write_batch(self, batch: list[_Batch]) -> None:
        now = time.time()
        try:
            with self._connection() as db:
                # IMMEDIATE: the write lock is taken before the deletion counts are read, so no DELETE (of this
                # process or another) can commit between the check and the insert.
                db.execute("BEGIN IMMEDIATE")
                current = self._deletion_counts(db, {article_id for article_id, _, _ in batch})
                rows = [(article_id, c.id, c.text, c.parent_id, now) for article_id, deletions, comments in batch
                        if current.get(article_id, 0) == deletions for c in comments]
                # Many rows per statement: sqlite3 gives up and takes back the GIL at every step of a statement,
                # so one step per row would hand the GIL back and forth with the event loop.
                for start in range(0, len(rows), _ROWS_PER_INSERT):
                    chunk = rows[start : start + _ROWS_PER_INSERT]
                    db.execute(
                        "INSERT OR IGNORE INTO comments (article_id, id, text, parent_id, created_at) VALUES "
                        + ",".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                        [value for row in chunk for value in row],
                    )
                db.execute("COMMIT")
        except Exception:
            # Known comments are context, not decisions: a failed write is logged and the writer goes on
            # (a dead writer would leave flush() waiting for ever).
            logger.exception("could not store %d classified comments", sum(len(comments) for _, _, comments in batch))

    @staticmethod
    def _deletion_counts(db: sqlite3.Connection, article_ids: set[str]) -> dict[str, int]:
        """The deletion count of each of these articles that was ever deleted."""
        ids = list(article_ids)
        counts: dict[str, int] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            counts.update(db.execute(
                "SELECT article_id, deletions FROM article_deletions WHERE article_id IN ("
                + ",".join("?" * len(chunk)) + ")", chunk,
            ).fetchall())
        return counts

    # -- model generation (hot reload across worker processes) ---------------------------------------------
    def record_reload(self, version: str) -> int:
        """Note that the model was reloaded; returns the new generation, which other workers follow."""
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO model_reloads (version, requested_at) VALUES (?, ?)", (version, time.time())
            )
        return int(cursor.lastrowid or 0)

    def reload_generation(self) -> int:
        with self._connection() as db:
            row = db.execute("SELECT coalesce(max(generation), 0) FROM model_reloads").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Write what is queued and close the database."""
        with self._progress:
            self._closing = True
        self._hurry.set()
        self._wake.set()
        self._writer.join(timeout=30.0)
        with self._lock:
            self._db.close()
