"""Each article's thread in the database: every stored comment's term vector and a running sum per article.

A context is rebuilt (cache miss, restart, reload, a change made by another worker process) from what is stored
here, never by analysing stored comment texts again: a rebuild reads the stored sum (at most one entry per hash
bucket) and fewer than FOLD_AT + one write batch of vectors, however many comments the article has.

    comment_vectors  (space, article_id, seq) -> a comment's term vector: sorted int32 term ids, float64 values
    thread_sums      (space, article_id) -> the sum and count of the article's vectors with seq <= upto, and how
                     many vectors lie beyond (pending); the writer folds those in once they reach FOLD_AT
    article_state    article_id -> version (raised by every change other than new comments: PUT, DELETE, an
                     edit, a comment deleted or pruned), last_seq (its newest comment), comments

The invariant every function keeps, inside the caller's transaction: a space's sum for an article is the sum of
that article's vectors in that space with seq <= upto, its count is their number, and pending counts the ones
beyond. A comment without a vector in a space is not in that space's thread.

Vectors depend on the model that computed them (its hasher and IDF), so they are keyed by `space`, a fingerprint
of exactly those (`api.contexts.vector_space`); a reload of a bundle with the same vectoriser (the same bundle, a
re-versioned copy) finds all of them. A space with nothing stored for an article (a model with another IDF) is
filled lazily and boundedly by the first request that needs the article (`backfill_texts`, `backfill`): its most
recent comments, at most BACKFILL_MAX_COMMENTS of them and BACKFILL_MAX_CHARS characters, are analysed once, and
older ones do not count in that model's thread. Not all of them, because analysing every stored text is the very
cost this module removes (30 s for the first request after a reload, measured); not a pass over every article at
reload, because that would hold the GIL against requests for as long as the database is large, for the oldest
comments of threads, which weigh least.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Vectors beyond an article's stored sum are folded into it once this many have gathered.
FOLD_AT = 512
#: Ids of folded comments read back with a thread (ids only: a comment sent again is then recognised).
MAX_FOLDED_IDS = 50_000
#: A space's first build of an article analyses at most this many of its most recent comments...
BACKFILL_MAX_COMMENTS = 256
#: ...and at most this many characters of them.
BACKFILL_MAX_CHARS = 1_000_000

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS comment_vectors (
        space TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
        indices BLOB NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (space, article_id, seq))""",
    "CREATE INDEX IF NOT EXISTS comment_vectors_by_comment ON comment_vectors (article_id, seq)",
    """CREATE TABLE IF NOT EXISTS thread_sums (
        space TEXT NOT NULL, article_id TEXT NOT NULL, upto INTEGER NOT NULL, count INTEGER NOT NULL,
        pending INTEGER NOT NULL, indices BLOB NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (space, article_id))""",
    "CREATE INDEX IF NOT EXISTS thread_sums_by_article ON thread_sums (article_id)",
    # The pending count changes with every write; in its own small row, updating it does not rewrite the sum's
    # blobs (which made the comment writer the service's largest cost). thread_sums.pending is no longer read.
    """CREATE TABLE IF NOT EXISTS thread_pending (
        space TEXT NOT NULL, article_id TEXT NOT NULL, pending INTEGER NOT NULL,
        PRIMARY KEY (space, article_id))""",
    """CREATE TABLE IF NOT EXISTS article_state (
        article_id TEXT PRIMARY KEY, version INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        comments INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS comments_by_article ON comments (article_id, seq)",
    "CREATE INDEX IF NOT EXISTS comments_by_age ON comments (created_at)",
]

SparseVector = tuple[np.ndarray, np.ndarray]
_EMPTY: SparseVector = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64))
_IDS_PER_QUERY = 500
_ROWS_PER_INSERT = 150  # up to 6 values a row, within SQLite's 32,766 variables per statement


@dataclass(frozen=True)
class ArticleState:
    """What a cached context compares with the database on every request (one row read)."""

    version: int = 0
    last_seq: int = 0


@dataclass(frozen=True)
class StoredThread:
    """An article's thread in one space as the database has it: `total` is None when the space has no sum."""

    state: ArticleState
    comments: int
    total: SparseVector | None
    count: int
    recent: list[tuple[str, SparseVector]]  # vectors beyond the sum, oldest first, with their comment ids
    #: ids of the comments the sum counts (the most recent MAX_FOLDED_IDS), so a comment sent again is known
    folded: tuple[str, ...] = ()


@dataclass(frozen=True)
class FoundComment:
    id: str
    seq: int
    text: str
    vector: SparseVector | None  # None: no vector in the space asked for


@dataclass(frozen=True)
class NewComment:
    id: str
    text: str
    parent_id: str | None
    vector: SparseVector | None


def migrate(db: sqlite3.Connection) -> None:
    """Create what this module needs; an older database gets it with its articles' states counted once."""
    db.execute("BEGIN IMMEDIATE")
    columns = {row[1] for row in db.execute("PRAGMA table_info(comments)")}
    if "origin" not in columns:
        db.execute("ALTER TABLE comments ADD COLUMN origin TEXT")
    had_state = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'article_state'").fetchone()
    for statement in SCHEMA:
        db.execute(statement)
    if had_state is None:
        db.execute("INSERT OR IGNORE INTO article_state SELECT article_id, 0, max(seq), count(*) FROM comments "
                   "GROUP BY article_id")
    db.execute("COMMIT")


def encode(vector: SparseVector) -> tuple[bytes, bytes]:
    return (np.ascontiguousarray(vector[0], dtype="<i4").tobytes(),
            np.ascontiguousarray(vector[1], dtype="<f8").tobytes())


def decode(indices: bytes, data: bytes) -> SparseVector:
    return np.frombuffer(indices, dtype="<i4"), np.frombuffer(data, dtype="<f8")


def summed(plus: Sequence[SparseVector], minus: Sequence[SparseVector] = ()) -> SparseVector:
    """The sum of sparse vectors, less others, as sorted distinct term ids and values."""
    parts = [v for v in plus if len(v[0])] + [(v[0], -v[1]) for v in minus if len(v[0])]
    if not parts:
        return _EMPTY
    unique, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    data = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]), minlength=len(unique))
    return unique.astype(np.int32, copy=False), data


# -- reading -------------------------------------------------------------------------------------------------
def article_state(db: sqlite3.Connection, article_id: str) -> ArticleState:
    row = db.execute("SELECT version, last_seq FROM article_state WHERE article_id = ?", (article_id,)).fetchone()
    return ArticleState() if row is None else ArticleState(int(row[0]), int(row[1]))


def read_thread(db: sqlite3.Connection, space: str, article_id: str) -> StoredThread:
    """The article's state, its stored sum in `space` and the vectors beyond it, as of one moment."""
    db.execute("BEGIN")
    try:
        row = db.execute("SELECT version, last_seq, comments FROM article_state WHERE article_id = ?",
                         (article_id,)).fetchone()
        state = ArticleState() if row is None else ArticleState(int(row[0]), int(row[1]))
        comments = 0 if row is None else int(row[2])
        sums = db.execute("SELECT upto, count, indices, data FROM thread_sums WHERE space = ? AND article_id = ?",
                          (space, article_id)).fetchone()
        if sums is None:
            return StoredThread(state=state, comments=comments, total=None, count=0, recent=[])
        recent = db.execute(
            "SELECT c.id, v.indices, v.data FROM comment_vectors v JOIN comments c ON c.seq = v.seq "
            "WHERE v.space = ? AND v.article_id = ? AND v.seq > ? ORDER BY v.seq", (space, article_id, sums[0]),
        ).fetchall()
        folded = db.execute(
            "SELECT c.id FROM comment_vectors v JOIN comments c ON c.seq = v.seq "
            "WHERE v.space = ? AND v.article_id = ? AND v.seq <= ? ORDER BY v.seq DESC LIMIT ?",
            (space, article_id, sums[0], MAX_FOLDED_IDS),
        ).fetchall()
    finally:
        db.execute("COMMIT")
    return StoredThread(state=state, comments=comments, total=decode(sums[2], sums[3]), count=int(sums[1]),
                        recent=[(r[0], decode(r[1], r[2])) for r in recent], folded=tuple(r[0] for r in folded))


def read_new(db: sqlite3.Connection, space: str, article_id: str, *, after: int, upto: int, origin: str,
             limit: int) -> list[tuple[str, SparseVector]] | None:
    """Vectors of comments stored with after < seq <= upto by anyone but `origin`; None when over `limit`."""
    rows = db.execute(
        "SELECT c.id, v.indices, v.data FROM comments c JOIN comment_vectors v ON v.space = ? "
        "AND v.article_id = c.article_id AND v.seq = c.seq WHERE c.article_id = ? AND c.seq > ? AND c.seq <= ? "
        "AND c.origin IS NOT ? ORDER BY c.seq LIMIT ?", (space, article_id, after, upto, origin, limit + 1),
    ).fetchall()
    return None if len(rows) > limit else [(r[0], decode(r[1], r[2])) for r in rows]


def find_comments(db: sqlite3.Connection, space: str, article_id: str, ids: Sequence[str]) -> list[FoundComment]:
    """Stored comments of an article by id, with their vector in `space` where there is one."""
    found: list[FoundComment] = []
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = list(ids[start:start + _IDS_PER_QUERY])
        rows = db.execute(
            "SELECT c.id, c.seq, c.text, v.indices, v.data FROM comments c LEFT JOIN comment_vectors v "
            "ON v.space = ? AND v.article_id = c.article_id AND v.seq = c.seq WHERE c.article_id = ? AND c.id IN ("
            + ",".join("?" * len(chunk)) + ")", [space, article_id, *chunk],
        ).fetchall()
        found += [FoundComment(r[0], int(r[1]), r[2], None if r[3] is None else decode(r[3], r[4])) for r in rows]
    return found


def backfill_texts(db: sqlite3.Connection, article_id: str) -> list[tuple[int, str]]:
    """(seq, text) of the article's most recent comments, newest first, within the backfill bounds."""
    rows = db.execute("SELECT seq, text FROM comments WHERE article_id = ? ORDER BY seq DESC LIMIT ?",
                      (article_id, BACKFILL_MAX_COMMENTS)).fetchall()
    chosen: list[tuple[int, str]] = []
    chars = 0
    for seq, text in rows:
        chars += len(text)
        if chars > BACKFILL_MAX_CHARS:
            break
        chosen.append((int(seq), text))
    return chosen


# -- writing (inside the caller's BEGIN IMMEDIATE) ---------------------------------------------------------------
def insert_comments(db: sqlite3.Connection, article_id: str, space: str, origin: str,
                    comments: Sequence[NewComment], now: float) -> None:
    """Store an article's comments with their vectors in `space`; a stored id sent with a new text replaces the
    old comment (an edit), the same text again changes nothing.

    An edit and a comment without a vector raise the article's version, so every worker rebuilds its context
    from what is stored here instead of trusting its own arithmetic.
    """
    existing = _stored(db, space, article_id, [c.id for c in comments])
    comments = [c for c in comments if existing.get(c.id, (0, None, False))[1:] != (c.text, True)]
    if not comments:
        return
    replaced = [existing[c.id][0] for c in comments if c.id in existing]
    if replaced:
        remove_comments(db, article_id, replaced)
    seq_of: dict[str, int] = {}
    rows = [(article_id, c.id, c.text, c.parent_id, now, origin) for c in comments]
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start:start + _ROWS_PER_INSERT]
        cursor = db.execute(
            "INSERT INTO comments (article_id, id, text, parent_id, created_at, origin) VALUES "
            + ",".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)) + " RETURNING seq, id",
            [value for row in chunk for value in row],
        )
        seq_of.update({comment_id: int(seq) for seq, comment_id in cursor.fetchall()})
    vectors = [(space, article_id, seq_of[c.id], *encode(c.vector)) for c in comments if c.vector is not None]
    _insert_vectors(db, vectors)
    if vectors:
        _count_pending(db, space, article_id, [row[2] for row in vectors])
    unvectored = len(vectors) < len(comments)
    db.execute(
        "INSERT INTO article_state (article_id, version, last_seq, comments) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (article_id) DO UPDATE SET version = version + excluded.version, "
        "last_seq = max(last_seq, excluded.last_seq), comments = comments + excluded.comments",
        (article_id, int(unvectored), max(seq_of.values()), len(comments)),
    )


def remove_comments(db: sqlite3.Connection, article_id: str, seqs: Sequence[int]) -> int:
    """Remove comments (by seq) with their vectors, taking them out of every space's sum; returns how many."""
    removed = 0
    for start in range(0, len(seqs), _IDS_PER_QUERY):
        chunk = list(seqs[start:start + _IDS_PER_QUERY])
        marks = ",".join("?" * len(chunk))
        by_space: dict[str, list[tuple[int, SparseVector]]] = defaultdict(list)
        for space, seq, indices, data in db.execute(
            f"SELECT space, seq, indices, data FROM comment_vectors WHERE article_id = ? AND seq IN ({marks})",
            [article_id, *chunk],
        ):
            by_space[space].append((int(seq), decode(indices, data)))
        for space, items in by_space.items():
            _take_out(db, space, article_id, items)
        db.execute(f"DELETE FROM comment_vectors WHERE article_id = ? AND seq IN ({marks})", [article_id, *chunk])
        removed += db.execute(f"DELETE FROM comments WHERE article_id = ? AND seq IN ({marks})",
                              [article_id, *chunk]).rowcount
    db.execute("UPDATE article_state SET version = version + 1, comments = max(0, comments - ?) WHERE article_id = ?",
               (removed, article_id))
    return removed


def prune_to_cap(db: sqlite3.Connection, article_id: str, cap: int) -> int:
    """Past `cap` comments, remove an article's oldest down to nine tenths of it; returns how many.

    Nine tenths, not the cap itself: a removal raises the article's version and so makes every worker rebuild
    its context, which a busy article at its cap would otherwise do after every write (ten times a second).
    """
    row = db.execute("SELECT comments FROM article_state WHERE article_id = ?", (article_id,)).fetchone()
    if row is None or int(row[0]) <= cap:
        return 0
    seqs = [int(r[0]) for r in db.execute("SELECT seq FROM comments WHERE article_id = ? ORDER BY seq LIMIT ?",
                                          (article_id, int(row[0]) - (cap - cap // 10)))]
    return remove_comments(db, article_id, seqs)


def prune_older(db: sqlite3.Connection, cutoff: float, limit: int) -> int:
    """Remove up to `limit` comments stored before `cutoff` (oldest first); returns how many."""
    by_article: dict[str, list[int]] = defaultdict(list)
    for article_id, seq in db.execute("SELECT article_id, seq FROM comments WHERE created_at < ? "
                                      "ORDER BY created_at LIMIT ?", (cutoff, limit)):
        by_article[article_id].append(int(seq))
    return sum(remove_comments(db, article_id, seqs) for article_id, seqs in by_article.items())


def forget_article(db: sqlite3.Connection, article_id: str) -> None:
    """Drop an article's vectors and sums (its comments are deleted by the caller) and raise its version."""
    db.execute("DELETE FROM comment_vectors WHERE article_id = ?", (article_id,))
    db.execute("DELETE FROM thread_sums WHERE article_id = ?", (article_id,))
    db.execute("DELETE FROM thread_pending WHERE article_id = ?", (article_id,))
    db.execute(
        "INSERT INTO article_state (article_id, version, last_seq, comments) VALUES (?, 1, 0, 0) "
        "ON CONFLICT (article_id) DO UPDATE SET version = version + 1, comments = 0", (article_id,),
    )


def backfill(db: sqlite3.Connection, space: str, article_id: str,
             items: Sequence[tuple[int, str, SparseVector]]) -> bool:
    """Store vectors computed for (seq, text) of comments in a space that has no sum for the article yet.

    False (and nothing written) when the space got one meanwhile; comments edited or deleted since their text
    was read are left out.
    """
    if db.execute("SELECT 1 FROM thread_sums WHERE space = ? AND article_id = ?", (space, article_id)).fetchone():
        return False
    current: dict[int, str] = {}
    for start in range(0, len(items), _IDS_PER_QUERY):
        chunk = [seq for seq, _, _ in items[start:start + _IDS_PER_QUERY]]
        current.update(db.execute(f"SELECT seq, text FROM comments WHERE article_id = ? AND seq IN "
                                  f"({','.join('?' * len(chunk))})", [article_id, *chunk]).fetchall())
    kept = [(space, article_id, seq, *encode(vector)) for seq, text, vector in items if current.get(seq) == text]
    if not kept:
        return False
    _insert_vectors(db, kept)
    _count_pending(db, space, article_id, [row[2] for row in kept])
    db.execute("UPDATE article_state SET version = version + 1 WHERE article_id = ?", (article_id,))
    return True


def _stored(db: sqlite3.Connection, space: str, article_id: str,
            ids: Sequence[str]) -> dict[str, tuple[int, str, bool]]:
    """(seq, text, whether it has a vector in `space`) of the stored comments among these ids."""
    stored: dict[str, tuple[int, str, bool]] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = list(ids[start:start + _IDS_PER_QUERY])
        stored.update((r[0], (int(r[1]), r[2], bool(r[3]))) for r in db.execute(
            "SELECT c.id, c.seq, c.text, EXISTS (SELECT 1 FROM comment_vectors v WHERE v.space = ? AND "
            "v.article_id = c.article_id AND v.seq = c.seq) FROM comments c WHERE c.article_id = ? AND c.id IN ("
            + ",".join("?" * len(chunk)) + ")", [space, article_id, *chunk]))
    return stored


def _insert_vectors(db: sqlite3.Connection, rows: Sequence[tuple[str, str, int, bytes, bytes]]) -> None:
    # Many rows per statement: sqlite3 gives up and takes back the GIL at every step of a statement.
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start:start + _ROWS_PER_INSERT]
        db.execute("INSERT INTO comment_vectors (space, article_id, seq, indices, data) VALUES "
                   + ",".join(["(?, ?, ?, ?, ?)"] * len(chunk)), [value for row in chunk for value in row])


def _count_pending(db: sqlite3.Connection, space: str, article_id: str, seqs: list[int]) -> None:
    """Note new vectors beyond the space's sum (starting the sum if there is none); fold them in when enough."""
    exists = db.execute("SELECT 1 FROM thread_sums WHERE space = ? AND article_id = ?", (space, article_id)).fetchone()
    if exists is None:  # the space's first vectors of this article: its sum starts empty, just before them
        db.execute("INSERT INTO thread_sums (space, article_id, upto, count, pending, indices, data) "
                   "VALUES (?, ?, ?, 0, 0, ?, ?)", (space, article_id, min(seqs) - 1, *encode(_EMPTY)))
    pending = _add_pending(db, space, article_id, len(seqs))
    if pending >= FOLD_AT:
        _fold(db, space, article_id)


def _add_pending(db: sqlite3.Connection, space: str, article_id: str, change: int) -> int:
    """Add to the count of vectors beyond the sum; returns it. A database from before thread_pending starts
    from the count thread_sums kept."""
    row = db.execute("UPDATE thread_pending SET pending = pending + ? WHERE space = ? AND article_id = ? "
                     "RETURNING pending", (change, space, article_id)).fetchone()
    if row is not None:
        return int(row[0])
    before = db.execute("SELECT pending FROM thread_sums WHERE space = ? AND article_id = ?",
                        (space, article_id)).fetchone()
    pending = (int(before[0]) if before is not None else 0) + change
    db.execute("INSERT INTO thread_pending (space, article_id, pending) VALUES (?, ?, ?)",
               (space, article_id, pending))
    return pending


def _fold(db: sqlite3.Connection, space: str, article_id: str) -> None:
    upto, indices, data = db.execute("SELECT upto, indices, data FROM thread_sums WHERE space = ? AND article_id = ?",
                                     (space, article_id)).fetchone()
    rows = db.execute("SELECT seq, indices, data FROM comment_vectors WHERE space = ? AND article_id = ? AND seq > ? "
                      "ORDER BY seq", (space, article_id, upto)).fetchall()
    if not rows:
        return
    total = summed([decode(indices, data)] + [decode(r[1], r[2]) for r in rows])
    db.execute("UPDATE thread_sums SET upto = ?, count = count + ?, pending = 0, indices = ?, data = ? "
               "WHERE space = ? AND article_id = ?", (int(rows[-1][0]), len(rows), *encode(total), space, article_id))
    db.execute("INSERT INTO thread_pending (space, article_id, pending) VALUES (?, ?, 0) "
               "ON CONFLICT (space, article_id) DO UPDATE SET pending = 0", (space, article_id))


def _take_out(db: sqlite3.Connection, space: str, article_id: str, items: list[tuple[int, SparseVector]]) -> None:
    """Take removed vectors out of a space's sum (those it counts) or its pending count (the others)."""
    row = db.execute("SELECT upto, indices, data FROM thread_sums WHERE space = ? AND article_id = ?",
                     (space, article_id)).fetchone()
    if row is None:
        return
    counted = [vector for seq, vector in items if seq <= row[0]]
    db.execute("UPDATE thread_sums SET count = count - ? WHERE space = ? AND article_id = ?",
               (len(counted), space, article_id))
    _add_pending(db, space, article_id, -(len(items) - len(counted)))
    if counted:
        total = summed([decode(row[1], row[2])], counted)
        db.execute("UPDATE thread_sums SET indices = ?, data = ? WHERE space = ? AND article_id = ?",
                   (*encode(total), space, article_id))
