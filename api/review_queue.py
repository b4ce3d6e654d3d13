"""The review queue and the agreement figures, read from `api.decisions`' tables.

The queue is the comments whose latest classification is "review" and that no moderator has decided, most
uncertain first (smallest margin between the top two scores), in pages with a keyset cursor: a page never
repeats or skips a comment because others were decided meanwhile, which an offset would.

Agreement counts each comment's latest decision against what the model did with it at the time:
an approve is overturned when the moderator's label is not on_topic, a reject when it is on_topic (a reject as
spam that a moderator rejects as off topic is still a right reject).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from model.labels import ON_TOPIC

#: The words a reason names (`word "read more" (+3.39)`), which the reviewer page marks in the text.
_TERM_REASON = re.compile(r'^word "(.+)" \([+-]')


class CursorError(ValueError):
    """A queue cursor this server did not write (or of another ordering)."""


def queue_page(db: sqlite3.Connection, *, article_id: str | None, limit: int,
               cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the queue and the cursor of the next page (None after the last)."""
    where = ["c.action = 'review'", "c.decided = 0"]
    args: list[Any] = []
    if article_id is not None:
        where.append("c.article_id = ?")
        args.append(article_id)
    if cursor is not None:
        where.append("(c.margin, c.classified_at, c.article_id, c.comment_id) > (?, ?, ?, ?)")
        args.extend(_decode(cursor))
    rows = db.execute(
        "SELECT c.article_id, c.title, c.comment_id, c.text, c.parent_id, c.label, c.scores, c.action, c.reasons, "
        "c.classified_at, c.model_version, c.margin, "
        "(SELECT text FROM comments p WHERE p.article_id = c.article_id AND p.id = c.parent_id) "
        "FROM classifications c INDEXED BY classifications_queue WHERE " + " AND ".join(where)
        + " ORDER BY c.margin, c.classified_at, c.article_id, c.comment_id LIMIT ?", [*args, limit + 1],
    ).fetchall()
    items = [_item(row) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return items, None if last is None else _encode((last[11], last[9], last[0], last[2]))


def pending(db: sqlite3.Connection, article_id: str | None) -> int:
    query = "SELECT count(*) FROM classifications INDEXED BY classifications_queue WHERE action = 'review' " \
            "AND decided = 0"
    row = db.execute(query + " AND article_id = ?", (article_id,)).fetchone() if article_id is not None \
        else db.execute(query).fetchone()
    return int(row[0])


def terms_of(reasons: list[str]) -> list[str]:
    """The words the reasons name, in their order: what the page highlights in the comment."""
    return [found.group(1) for found in map(_TERM_REASON.match, reasons) if found]


def agreement(db: sqlite3.Connection, *, since: float) -> dict[str, Any]:
    """Decisions since `since`, each comment's latest only, against the model's action at the time."""
    rows = db.execute(
        "SELECT d.label, d.model_action, d.decided_at FROM decisions d WHERE d.decided_at >= ? AND d.seq = "
        "(SELECT max(seq) FROM decisions e WHERE e.article_id = d.article_id AND e.comment_id = d.comment_id)",
        (since,),
    ).fetchall()
    total = _Tally()
    per_day: dict[str, _Tally] = {}
    for label, action, decided_at in rows:
        day = datetime.fromtimestamp(decided_at, UTC).strftime("%Y-%m-%d")
        for tally in (total, per_day.setdefault(day, _Tally())):
            tally.add(label, action)
    return {
        "decisions": total.decisions,
        "actions": {
            "approve": _rate(total.approve_decided, total.approve_overturned),
            "reject": _rate(total.reject_decided, total.reject_overturned),
            "review": {"decided": total.review_decided},
            "unclassified": {"decided": total.unclassified},
        },
        "precision": {
            "approve": _share(total.approve_decided - total.approve_overturned, total.approve_decided),
            "reject": _share(total.reject_decided - total.reject_overturned, total.reject_decided),
        },
        "per_day": [{"day": day, **tally.day_row()} for day, tally in sorted(per_day.items())],
    }


class _Tally:
    def __init__(self) -> None:
        self.decisions = self.review_decided = self.unclassified = 0
        self.approve_decided = self.approve_overturned = self.reject_decided = self.reject_overturned = 0

    def add(self, label: str, action: str | None) -> None:
        self.decisions += 1
        if action == "approve":
            self.approve_decided += 1
            self.approve_overturned += label != ON_TOPIC
        elif action == "reject":
            self.reject_decided += 1
            self.reject_overturned += label == ON_TOPIC
        elif action == "review":
            self.review_decided += 1
        else:
            self.unclassified += 1

    def day_row(self) -> dict[str, int]:
        return {"decisions": self.decisions, "approve_decided": self.approve_decided,
                "approve_overturned": self.approve_overturned, "reject_decided": self.reject_decided,
                "reject_overturned": self.reject_overturned}


def _rate(decided: int, overturned: int) -> dict[str, Any]:
    return {"decided": decided, "overturned": overturned, "rate": _share(overturned, decided)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    (article_id, title, comment_id, text, parent_id, label, scores, action, reasons, classified_at,
     model_version, _margin, parent_text) = row
    reasons_list = json.loads(reasons)
    return {
        "article_id": article_id, "article_title": title, "comment_id": comment_id, "text": text,
        "parent_id": parent_id, "parent_text": parent_text, "label": label, "scores": json.loads(scores),
        "action": action, "reasons": reasons_list, "terms": terms_of(reasons_list),
        "classified_at": datetime.fromtimestamp(classified_at, UTC).isoformat(timespec="seconds").replace(
            "+00:00", "Z"),
        "model_version": model_version,
    }


def _encode(position: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        ok = (isinstance(values, list) and len(values) == 4 and all(isinstance(v, (int, float)) for v in values[:2])
              and all(isinstance(v, str) for v in values[2:]))
    except (ValueError, UnicodeError):
        ok = False
    if not ok:
        raise CursorError("not a cursor of this queue: pass next_cursor from the previous page unchanged")
    return values  # type: ignore[no-any-return]
