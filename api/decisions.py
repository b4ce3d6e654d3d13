"""What the model said about each stored comment, and what moderators decided: the moderation loop's memory.

    classifications  (article_id, comment_id) -> the latest classification of a remembered comment: its title,
                     text, parent, label, action, scores, reasons, margin (top score minus the second: the
                     queue's order) and whether a moderator has decided it since
    decisions        every moderator's decision, append-only: the label, who, when, from which source (the
                     API, Coral, Perspective, Akismet), the comment's text and parent's text as decided, and
                     what the model said at the time; the latest decision for a comment is the one that counts

Decisions copy the text they are about rather than point at `comments`, because comments are pruned after the
retention period while a decision is training data for as long as the site keeps it. A DELETE of the comment
or of its article removes its decisions too: that is a request to forget the comment, which training must honour.

Classifications are written by the comment writer in the transaction that stores the comments (behind the
answer); decisions synchronously, so /feedback answers after its decisions are committed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.types import Classification

if TYPE_CHECKING:
    import pandas as pd

#: An inline article's snapshot keeps this much of its body: enough for the similarities to tell its topic, while
#: a site that does not store inline articles (MODERATE_STORE_INLINE_ARTICLES) does not store their whole text.
SNAPSHOT_BODY_CHARS = 4_000

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS classifications (
        article_id TEXT NOT NULL, comment_id TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        parent_id TEXT, label TEXT NOT NULL, action TEXT NOT NULL, scores TEXT NOT NULL, reasons TEXT NOT NULL,
        margin REAL NOT NULL, model_version TEXT NOT NULL, classified_at REAL NOT NULL,
        decided INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (article_id, comment_id))""",
    # The queue reads this index in its own order and stops after one page, however many rows are decided.
    """CREATE INDEX IF NOT EXISTS classifications_queue
        ON classifications (margin, classified_at, article_id, comment_id) WHERE action = 'review' AND decided = 0""",
    "CREATE INDEX IF NOT EXISTS classifications_by_comment ON classifications (comment_id)",
    "CREATE INDEX IF NOT EXISTS classifications_by_age ON classifications (classified_at)",
    """CREATE TABLE IF NOT EXISTS decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL, comment_id TEXT NOT NULL, label TEXT NOT NULL, moderator TEXT,
        source TEXT NOT NULL, decided_at REAL NOT NULL, text TEXT NOT NULL, parent_id TEXT, parent_text TEXT,
        model_label TEXT, model_action TEXT, model_scores TEXT, model_version TEXT)""",
    "CREATE INDEX IF NOT EXISTS decisions_by_comment ON decisions (article_id, comment_id, seq)",
    # The article a classification was made under, also when it came inline and is not stored for /classify
    # (MODERATE_STORE_INLINE_ARTICLES): retraining needs its text to learn from the decisions made under it.
    """CREATE TABLE IF NOT EXISTS article_snapshots (
        article_id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (decided_at)",
]

#: Where decisions come from: this API and the platforms' protocols (api/integrations/).
SOURCES = ("feedback", "coral", "perspective", "akismet")


@dataclass(frozen=True)
class ClassifiedComment:
    """One row for `classifications`: a remembered comment and what the model said about it."""

    article_id: str
    title: str
    text: str
    parent_id: str | None
    result: Classification
    model_version: str
    body: str = ""  # the article's body, for its snapshot


@dataclass(frozen=True)
class NewDecision:
    """A moderator's final label for one comment, as a route or an integration hands it to the service."""

    comment_id: str
    label: str
    article_id: str | None = None
    text: str | None = None
    parent_id: str | None = None
    moderator: str | None = None
    source: str = "feedback"


class DecisionError(ValueError):
    """A decision that cannot be stored: `status` 404 for an unknown article, 422 otherwise; `field` names it."""

    def __init__(self, detail: str, *, field: str | None, status: int = 422) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.status = status


@dataclass(frozen=True)
class SiteDecisions:
    """The site's labels for training: the latest decision per comment, oldest first, with their articles."""

    articles: pd.DataFrame  # article_id, title, body
    comments: pd.DataFrame  # comment_id, article_id, parent_id ("" for none), text, label, created_at, moderator
    without_article: int  # decided comments left out: their article is neither stored nor ever classified under


def migrate(db: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        db.execute(statement)


def margin(scores: dict[str, float]) -> float:
    """How far the top label is ahead of the next: the smaller, the more a moderator's look is worth."""
    ordered = sorted(scores.values(), reverse=True)
    return float(ordered[0] - ordered[1]) if len(ordered) > 1 else 1.0


# -- classifications (inside the comment writer's transaction) -----------------------------------------------
def record_classifications(db: sqlite3.Connection, rows: Sequence[ClassifiedComment], at: float) -> None:
    """Store each comment's latest classification; a comment classified again waits for a decision again only
    if the model now sends it to review and its text changed (the same text decided once stays decided)."""
    db.executemany(
        "INSERT INTO classifications (article_id, comment_id, title, text, parent_id, label, action, scores, "
        "reasons, margin, model_version, classified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (article_id, comment_id) DO UPDATE SET title = excluded.title, text = excluded.text, "
        "parent_id = excluded.parent_id, label = excluded.label, action = excluded.action, "
        "scores = excluded.scores, reasons = excluded.reasons, margin = excluded.margin, "
        "model_version = excluded.model_version, classified_at = excluded.classified_at, "
        "decided = CASE WHEN classifications.text = excluded.text THEN classifications.decided ELSE 0 END",
        [(row.article_id, row.result.id, row.title, row.text, row.parent_id, row.result.label, row.result.action,
          json.dumps(row.result.scores), json.dumps(row.result.reasons), margin(row.result.scores),
          row.model_version, at) for row in rows],
    )
    snapshots = {row.article_id: (row.title, row.body[:SNAPSHOT_BODY_CHARS]) for row in rows}
    db.executemany(
        "INSERT INTO article_snapshots (article_id, title, body, at) VALUES (?, ?, ?, ?) ON CONFLICT (article_id) "
        "DO UPDATE SET title = excluded.title, body = excluded.body, at = excluded.at "
        "WHERE title != excluded.title OR body != excluded.body",
        [(article_id, title, body, at) for article_id, (title, body) in snapshots.items()],
    )


def forget(db: sqlite3.Connection, article_id: str, comment_id: str | None = None) -> None:
    """Remove the classifications and decisions of one comment, or of every comment of an article."""
    where, args = ("article_id = ? AND comment_id = ?", (article_id, comment_id)) if comment_id is not None \
        else ("article_id = ?", (article_id,))
    db.execute(f"DELETE FROM classifications WHERE {where}", args)
    db.execute(f"DELETE FROM decisions WHERE {where}", args)
    if comment_id is None:
        db.execute("DELETE FROM article_snapshots WHERE article_id = ?", (article_id,))


def prune_older(db: sqlite3.Connection, cutoff: float) -> int:
    """Classifications older than the retention cutoff go with their comments; decisions stay (training data)."""
    return db.execute("DELETE FROM classifications WHERE classified_at < ?", (cutoff,)).rowcount


def find_classified(db: sqlite3.Connection, article_id: str, text: str) -> str | None:
    row = db.execute(
        "SELECT comment_id FROM classifications WHERE article_id = ? AND text = ? "
        "ORDER BY classified_at DESC LIMIT 1", (article_id, text),
    ).fetchone()
    return None if row is None else str(row[0])


# -- decisions ----------------------------------------------------------------------------------------------
def store_decisions(db: sqlite3.Connection, decisions: Sequence[NewDecision], *, labels: Sequence[str],
                    now: float) -> list[tuple[str, str | None]]:
    """Check every decision, then store them all (inside the caller's BEGIN IMMEDIATE); raises DecisionError
    naming the first decision that cannot be stored, and then stores none. Returns each stored decision's
    label and the model's action at the time (None: never classified)."""
    rows = [_decision_row(db, index, decision, labels, now) for index, decision in enumerate(decisions)]
    db.executemany(
        "INSERT INTO decisions (article_id, comment_id, label, moderator, source, decided_at, text, parent_id, "
        "parent_text, model_label, model_action, model_scores, model_version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
    )
    db.executemany("UPDATE classifications SET decided = 1 WHERE article_id = ? AND comment_id = ?",
                   [(row[0], row[1]) for row in rows])
    return [(row[2], row[10]) for row in rows]


def _decision_row(db: sqlite3.Connection, index: int, decision: NewDecision, labels: Sequence[str],
                  now: float) -> tuple[Any, ...]:
    place = f"decisions[{index}]"
    if decision.label not in labels:
        raise DecisionError(f"unknown label {decision.label!r}: the served model's labels are "
                            f"{', '.join(labels)}", field=f"{place}.label")
    if decision.source not in SOURCES:
        raise DecisionError(f"unknown source {decision.source!r}", field=f"{place}.source")
    article_id = decision.article_id or _only_article(db, decision.comment_id, place)
    classified = db.execute(
        "SELECT text, parent_id, label, action, scores, model_version FROM classifications "
        "WHERE article_id = ? AND comment_id = ?", (article_id, decision.comment_id),
    ).fetchone() if article_id is not None else None
    if classified is None:
        if decision.text is None:
            where = f" under article {article_id!r}" if article_id is not None else ""
            raise DecisionError(
                f"comment {decision.comment_id!r} was never classified{where}: send its text (and article_id)",
                field=f"{place}.text")
        if article_id is None:
            raise DecisionError(f"comment {decision.comment_id!r} was never classified: send its article_id",
                                field=f"{place}.article_id")
        if not _article_known(db, article_id):
            raise DecisionError(f"unknown article {article_id!r}: store it first with PUT /articles/{{id}}",
                                field=f"{place}.article_id", status=404)
        text, parent_id, model = decision.text, decision.parent_id, (None, None, None, None)
    else:
        text = decision.text if decision.text is not None else classified[0]
        parent_id = decision.parent_id if decision.parent_id is not None else classified[1]
        model = tuple(classified[2:6])
    parent_text = _parent_text(db, article_id, parent_id) if parent_id and article_id is not None else None
    return (article_id, decision.comment_id, decision.label, decision.moderator, decision.source, now, text,
            parent_id, parent_text, *model)


def _only_article(db: sqlite3.Connection, comment_id: str, place: str) -> str | None:
    """The one article a comment id was classified under; ambiguous ids need their article named."""
    found = [str(row[0]) for row in db.execute(
        "SELECT article_id FROM classifications WHERE comment_id = ? LIMIT 2", (comment_id,))]
    if len(found) > 1:
        raise DecisionError(f"comment id {comment_id!r} was classified under several articles: send its article_id",
                            field=f"{place}.article_id")
    return found[0] if found else None


def _article_known(db: sqlite3.Connection, article_id: str) -> bool:
    """Stored with PUT, or the article of comments the service remembers (sent inline to /classify)."""
    return any(db.execute(query, (article_id,)).fetchone() for query in (
        "SELECT 1 FROM articles WHERE id = ?", "SELECT 1 FROM article_snapshots WHERE article_id = ?",
        "SELECT 1 FROM decisions WHERE article_id = ? LIMIT 1"))


def _parent_text(db: sqlite3.Connection, article_id: str, parent_id: str) -> str | None:
    for query in ("SELECT text FROM comments WHERE article_id = ? AND id = ?",
                  "SELECT text FROM classifications WHERE article_id = ? AND comment_id = ?",
                  "SELECT text FROM decisions WHERE article_id = ? AND comment_id = ? ORDER BY seq DESC LIMIT 1"):
        row = db.execute(query, (article_id, parent_id)).fetchone()
        if row is not None:
            return str(row[0])
    return None


# -- the site's labels, for retraining -----------------------------------------------------------------------
def read_site_decisions(database: Path) -> SiteDecisions:
    """The latest decision per comment with its stored article, oldest first, read-only from `database`.

    A decision's parent that no moderator decided is not a labeled comment, so the reply's `parent_id` is kept
    only when the parent is among the decided comments; its text is in `parent_text` either way.
    """
    import pandas as pd

    if not database.is_file():
        raise FileNotFoundError(f"no database at {database} (the service's MODERATE_DATABASE_PATH)")
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "decisions" not in tables:
            raise ValueError(f"{database} holds no decisions table: is it the service's database?")
        latest = pd.read_sql_query(
            "SELECT d.article_id, d.comment_id, d.label, d.moderator, d.decided_at, d.text, d.parent_id, "
            "d.parent_text FROM decisions d WHERE d.seq = (SELECT max(seq) FROM decisions e "
            "WHERE e.article_id = d.article_id AND e.comment_id = d.comment_id) ORDER BY d.decided_at, d.seq", db)
        # A stored article wins over the snapshot of what /classify last saw inline.
        articles = pd.read_sql_query(
            "SELECT id AS article_id, title, body FROM articles UNION ALL SELECT s.article_id, s.title, s.body "
            "FROM article_snapshots s WHERE s.article_id NOT IN (SELECT id FROM articles)", db)
    finally:
        db.close()
    known = latest["article_id"].isin(set(articles["article_id"]))
    kept = latest[known].reset_index(drop=True)
    decided = set(zip(kept["article_id"], kept["comment_id"], strict=True))
    parents = [p if p and (a, p) in decided else "" for a, p in
               zip(kept["article_id"], kept["parent_id"].fillna(""), strict=True)]
    comments = pd.DataFrame({
        "comment_id": kept["comment_id"].astype(str), "article_id": kept["article_id"].astype(str),
        "parent_id": parents, "text": kept["text"].astype(str), "label": kept["label"].astype(str),
        "created_at": kept["decided_at"].astype(float), "moderator": kept["moderator"].fillna(""),
        "parent_text": kept["parent_text"].fillna(""),
    })
    used = articles[articles["article_id"].isin(set(comments["article_id"]))].reset_index(drop=True)
    return SiteDecisions(articles=used, comments=comments, without_article=int((~known).sum()))
