"""Load and validate labeled data: a folder with an articles table and a comments table.

    articles.{csv,jsonl,parquet}   article_id, title, body  (optional: url, section, published_at)
    comments.{csv,jsonl,parquet}   comment_id, article_id, parent_id, text, label  (optional: author, created_at)

Every problem is a DataError that names the file, the line (or Parquet row) and the field, because the person
who fixes it is looking at the file, not at our code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from model.errors import DataError, UnknownLabelError
from model.labels import LABELS, ordered_labels
from model.tables import Record, Table, iter_suffix_candidates, read_table

ARTICLE_COLUMNS = ("article_id", "title", "body")
ARTICLE_OPTIONAL = ("url", "section", "published_at")
COMMENT_COLUMNS = ("comment_id", "article_id", "parent_id", "text", "label")
COMMENT_OPTIONAL = ("author", "created_at")


@dataclass(frozen=True)
class LabeledData:
    """Validated articles and comments; `comments` keeps file order and the source line of every comment."""

    articles: pd.DataFrame
    comments: pd.DataFrame
    source: str

    @property
    def labels(self) -> tuple[str, ...]:
        return ordered_labels(self.comments["label"].unique())

    def model_frame(self) -> pd.DataFrame:
        """The frame the pipeline reads: one row per comment with its article's title and body."""
        return comments_with_articles(self.comments, self.articles)

    def content_hash(self) -> str:
        """SHA-256 of the validated content, independent of file format, so a bundle names its data."""
        digest = hashlib.sha256()
        for frame in (self.articles[list(ARTICLE_COLUMNS)], self.comments[list(COMMENT_COLUMNS)]):
            digest.update(frame.to_csv(index=False).encode("utf-8"))
        return digest.hexdigest()

    def counts(self) -> dict[str, Any]:
        return {
            "articles": len(self.articles),
            "comments": len(self.comments),
            "replies": int((self.comments["parent_id"] != "").sum()),
            "labels": {k: int(v) for k, v in self.comments["label"].value_counts().items()},
        }


def comments_with_articles(comments: pd.DataFrame, articles: pd.DataFrame) -> pd.DataFrame:
    """Join each comment with its article's title and body under the column names the features expect."""
    joined = comments.merge(
        articles[["article_id", "title", "body"]], on="article_id", how="left", validate="many_to_one"
    )
    joined["article_key"] = joined["article_id"]
    return joined


def load_labeled(directory: str | Path) -> LabeledData:
    """Read and validate `articles.*` and `comments.*` from a folder."""
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError("labeled-data folder not found (expected a folder with articles.* and comments.*)",
                        path=str(folder))
    articles_table = read_table(_find_one(folder, "articles"))
    comments_table = read_table(_find_one(folder, "comments"))
    articles = validate_articles(articles_table)
    comments = validate_comments(comments_table, set(articles["article_id"]), articles_table.name)
    if comments.empty:
        raise DataError("no comments", path=comments_table.name)
    return LabeledData(articles=articles, comments=comments, source=str(folder))


def _find_one(folder: Path, stem: str) -> Path:
    found = list(iter_suffix_candidates(folder, stem))
    if not found:
        raise DataError(f"no {stem}.csv, {stem}.jsonl or {stem}.parquet in this folder", path=str(folder))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"several {stem} tables ({names}); keep exactly one", path=str(folder))
    return found[0]


def validate_articles(table: Table) -> pd.DataFrame:
    """Articles with unique non-empty ids and titles; body may be empty (titles alone still carry the topic)."""
    _require_columns(table, ARTICLE_COLUMNS)
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for record in table.records:
        article_id = _text_field(table, record, "article_id", required=True)
        if article_id in first_line:
            first = first_line[article_id]
            _fail(table, record, "article_id", f"duplicate id {article_id!r} (first at {table.unit} {first})")
        first_line[article_id] = record.line
        row: dict[str, Any] = {
            "article_id": article_id,
            "title": _text_field(table, record, "title", required=True),
            "body": _text_field(table, record, "body", required=False),
        }
        for column in ARTICLE_OPTIONAL:
            row[column] = _text_field(table, record, column, required=False)
        row["line"] = record.line
        rows.append(row)
    return pd.DataFrame(rows, columns=[*ARTICLE_COLUMNS, *ARTICLE_OPTIONAL, "line"])


def validate_comments(table: Table, article_ids: set[str], articles_name: str) -> pd.DataFrame:
    """Comments whose ids are unique, labels known, articles present and parents earlier under the same article."""
    _require_columns(table, COMMENT_COLUMNS)
    rows: list[dict[str, Any]] = []
    seen: dict[str, tuple[int, str]] = {}
    pending_parents: list[tuple[Record, str, str]] = []
    for record in table.records:
        comment_id = _text_field(table, record, "comment_id", required=True)
        if comment_id in seen:
            _fail(table, record, "comment_id",
                  f"duplicate id {comment_id!r} (first at {table.unit} {seen[comment_id][0]})")
        article_id = _text_field(table, record, "article_id", required=True)
        if article_id not in article_ids:
            _fail(table, record, "article_id", f"article {article_id!r} is not in {articles_name}")
        text = _text_field(table, record, "text", required=False)
        if not text.strip():
            _fail(table, record, "text", "empty text")
        label = _text_field(table, record, "label", required=False)
        if label not in LABELS:
            raise UnknownLabelError(
                f"label {label!r} is not one of {', '.join(LABELS)}",
                path=table.name, line=record.line, field="label", unit=table.unit,
            )
        parent_id = _text_field(table, record, "parent_id", required=False)
        if parent_id:
            pending_parents.append((record, parent_id, article_id))
        seen[comment_id] = (record.line, article_id)
        row: dict[str, Any] = {"comment_id": comment_id, "article_id": article_id, "parent_id": parent_id,
                               "text": text, "label": label}
        for column in COMMENT_OPTIONAL:
            row[column] = _text_field(table, record, column, required=False)
        row["line"] = record.line
        rows.append(row)
    # Parents are checked after all ids are known, so a reply listed before its parent is still accepted.
    for record, parent_id, article_id in pending_parents:
        if parent_id not in seen:
            _fail(table, record, "parent_id", f"parent {parent_id!r} is not a comment in {table.name}")
        if seen[parent_id][1] != article_id:
            _fail(table, record, "parent_id",
                  f"parent {parent_id!r} is under article {seen[parent_id][1]!r}, not {article_id!r}")
        if parent_id == _text_field(table, record, "comment_id", required=True):
            _fail(table, record, "parent_id", "a comment cannot reply to itself")
    return pd.DataFrame(rows, columns=[*COMMENT_COLUMNS, *COMMENT_OPTIONAL, "line"])


def _require_columns(table: Table, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        found = ", ".join(table.columns) or "none"
        raise DataError(
            f"missing column(s) {names}; expected {', '.join(required)} (found: {found})",
            path=table.name, line=1 if table.unit == "line" else None,
        )


def _text_field(table: Table, record: Record, column: str, *, required: bool) -> str:
    value = record.values.get(column)
    if value is None or (isinstance(value, float) and value != value):
        value = ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(table, record, column, f"expected text, found {type(value).__name__}")
    text = str(value) if not isinstance(value, str) else value
    if required and not text.strip():
        _fail(table, record, column, "empty value; this field is required")
    return text.strip() if column not in ("text", "body", "title") else text


def _fail(table: Table, record: Record, field: str, message: str) -> None:
    raise DataError(message, path=table.name, line=record.line, field=field, unit=table.unit)
