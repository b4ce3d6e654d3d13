"""The writer of classified comments: one thread, one transaction per 0.1 s, behind the answers.

The comment-posting path should not wait for a disk commit (unless the service is told to, for several worker
processes: `Settings.commit_before_answer`), and losing the last few comments in a crash only costs thread
context, never a decision. `flush()` waits for the writer, so a context rebuilt from the database sees every
comment classified before it.

A DELETE must not be undone by writes still queued (or still being classified) for the article it deletes. Each
article id counts its deletions in the database; comments are queued with the count their article had when the
service read the article's thread, and the writer, inside the transaction that inserts them, drops those whose
article was deleted since. The same transaction stores each comment's vector (`api.thread_store`) and prunes the
article to its cap of stored comments.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from api import decisions, thread_store
from api.decisions import ClassifiedComment
from api.thread_store import NewComment


@dataclass(frozen=True)
class _Batch:
    article_id: str
    deletions: int  # the article's deletion count when its thread was read
    space: str  # the vector space of the comments' vectors
    origin: str  # the context that remembered them
    comments: Sequence[NewComment]
    at: float  # when they were classified: what retention counts from
    classified: Sequence[ClassifiedComment] = ()  # what the model said about them (api.decisions)


logger = logging.getLogger(__name__)

_WRITE_LINGER_SECONDS = 0.1
_IDS_PER_QUERY = 500


class CommentWriter:
    """Queues comments from any thread and writes them in the background; `flush` waits for what was queued."""

    def __init__(self, connection: Callable[[], AbstractContextManager[sqlite3.Connection]], *,
                 cap: int | None, clock: Callable[[], float],
                 on_pruned: Callable[[set[str] | None], None] | None = None) -> None:
        self._connection = connection
        self._cap = cap
        self.on_pruned = on_pruned  # told which articles lost comments to the cap, after the commit
        self._clock = clock
        # Comments waiting for the writer: appended by requests, taken whole by the writer (one swap, not one
        # queue operation per request), with counters so that flush() knows when what it saw is written.
        self._pending: list[_Batch] = []
        self._queued = 0
        self._written = 0
        self._closing = False
        self._progress = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._thread = threading.Thread(target=self._run, name="comment-writer", daemon=True)
        self._thread.start()

    def add(self, article_id: str, comments: Sequence[NewComment], *, deletions: int, space: str,
            origin: str, classified: Sequence[ClassifiedComment] = ()) -> None:
        if comments:
            with self._progress:
                self._pending.append(_Batch(article_id, deletions, space, origin, comments, self._clock(),
                                            classified))
                self._queued += 1
            if not self._wake.is_set():
                self._wake.set()

    def flush(self) -> None:
        """Wait until every comment queued so far is written (or the writer has ended)."""
        with self._progress:
            target = self._queued
            self._hurry.set()
            self._wake.set()
            while self._written < target and self._thread.is_alive():
                self._progress.wait(timeout=0.5)

    def close(self) -> None:
        """Write what is queued, then end the thread."""
        with self._progress:
            self._closing = True
        self._hurry.set()
        self._wake.set()
        self._thread.join(timeout=30.0)

    def _run(self) -> None:
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
                self._write(batch)
            with self._progress:
                self._written += len(batch)
                self._progress.notify_all()
            if closing and not batch:
                return

    def _write(self, batch: list[_Batch]) -> None:
        try:
            with self._connection() as db:
                # IMMEDIATE: the write lock is taken before the deletion counts are read, so no DELETE (of this
                # process or another) can commit between the check and the insert.
                db.execute("BEGIN IMMEDIATE")
                current = deletion_counts(db, {entry.article_id for entry in batch})
                touched: set[str] = set()
                for entry in batch:
                    if current.get(entry.article_id, 0) == entry.deletions:
                        thread_store.insert_comments(db, entry.article_id, entry.space, entry.origin,
                                                     entry.comments, entry.at)
                        decisions.record_classifications(db, entry.classified, entry.at)
                        touched.add(entry.article_id)
                pruned = set()
                if self._cap is not None:
                    for article_id in touched:
                        if thread_store.prune_to_cap(db, article_id, self._cap):
                            pruned.add(article_id)
                db.execute("COMMIT")
            if pruned and self.on_pruned is not None:
                self.on_pruned(pruned)
        except Exception:
            # Known comments are context, not decisions: a failed write is logged and the writer goes on
            # (a dead writer would leave flush() waiting for ever).
            logger.exception("could not store %d classified comments", sum(len(e.comments) for e in batch))


def deletion_counts(db: sqlite3.Connection, article_ids: set[str]) -> dict[str, int]:
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
