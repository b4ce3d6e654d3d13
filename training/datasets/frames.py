"""What every adapter shares: where the public data live, reading one of their files, and building LabeledData."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from model.errors import DataError
from model.labels import LABELS
from training.data import ARTICLE_COLUMNS, ARTICLE_OPTIONAL, COMMENT_COLUMNS, COMMENT_OPTIONAL, LabeledData


def default_data_root() -> Path:
    """`../shared/data` beside the project folder (the project is cloned next to the shared data)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_file(root: Path, folder: str, name: str) -> Path:
    """The path of one file of a data set, or a DataError that says where it was expected."""
    path = Path(root) / folder / name
    if not path.is_file():
        raise DataError(f"data set file not found; expected the public data in {Path(root) / folder}",
                        path=str(path))
    return path


def read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Every column as text (missing = ""), with a DataError naming the file if a needed column is absent."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})",
                        path=str(path))
    return frame


_TAGS = re.compile(r"<br\s*/?>", re.IGNORECASE)
_OTHER_TAGS = re.compile(r"</?[a-z][^>]{0,200}>", re.IGNORECASE)


def clean_web_text(text: str) -> str:
    """Decode HTML entities, turn markup left by a web API into plain text (`<br />` becomes a newline) and drop
    the byte-order marks the YouTube export leaves at the end of comments.

    Without this a model learns from `&#39;` and `<a href=...>`, which say how a comment was exported, not
    what it says.
    """
    text = html.unescape(html.unescape(text)).replace("\ufeff", "")
    text = _TAGS.sub("\n", text)
    return _OTHER_TAGS.sub(" ", text).strip()


def labeled_data(articles: pd.DataFrame, comments: pd.DataFrame, source: str) -> LabeledData:
    """LabeledData from frames built in code: fills the optional columns, keeps the extra ones, checks labels.

    Titles may be empty here (a set may know no title for an article): the features then find no similarity
    to it, which is what "unknown" should mean.
    """
    articles = articles.copy()
    comments = comments.copy()
    for column in (*ARTICLE_COLUMNS, *ARTICLE_OPTIONAL):
        if column not in articles.columns:
            articles[column] = ""
    for column in (*COMMENT_COLUMNS, *COMMENT_OPTIONAL):
        if column not in comments.columns:
            comments[column] = ""
    unknown = sorted(set(comments["label"]) - set(LABELS))
    if unknown:
        raise DataError(f"adapter produced unknown label(s) {', '.join(map(repr, unknown))}", path=source)
    if articles["article_id"].duplicated().any():
        raise DataError("adapter produced duplicate article ids", path=source)
    if comments["comment_id"].duplicated().any():
        raise DataError("adapter produced duplicate comment ids", path=source)
    orphans = ~comments["article_id"].isin(set(articles["article_id"]))
    if orphans.any():
        raise DataError(f"{int(orphans.sum())} comments name an article the adapter did not build", path=source)
    articles["line"] = range(2, len(articles) + 2)
    if "line" not in comments.columns:
        comments["line"] = range(2, len(comments) + 2)
    return LabeledData(articles=articles.reset_index(drop=True), comments=comments.reset_index(drop=True),
                       source=source)
