"""Fox News comments (Gao & Huang, RANLP 2017): 1,528 comments under 10 foxnews.com articles.

Reads `fox-news-comments/fox_news_comments.csv`. The article is its title and one-sentence meta description (no
body is available). The set is labeled for hate speech, not topic: every comment was written under its article,
so every comment is `on_topic`; the article-pairing protocol builds the off-topic side. Extra column: `hateful`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.labels import ON_TOPIC
from training.data import LabeledData
from training.datasets.frames import data_file, labeled_data, read_csv

FOLDER = "fox-news-comments"
FILE = "fox_news_comments.csv"
COLUMNS = ("row", "article_idx", "article_title", "article_meta_description", "user", "text", "hateful")


def load(root: Path) -> LabeledData:
    path = data_file(root, FOLDER, FILE)
    rows = read_csv(path, COLUMNS)
    rows = rows.assign(line=rows.index.to_numpy() + 2)
    rows = rows[rows["text"].str.strip() != ""]
    comments = pd.DataFrame({
        "comment_id": "fox-" + rows["row"],
        "article_id": "fox-" + rows["article_idx"],
        "parent_id": "",
        "text": rows["text"].to_numpy(),
        "label": ON_TOPIC,
        "author": rows["user"].to_numpy(),
        "hateful": (rows["hateful"] == "1").to_numpy(),
        "line": rows["line"].to_numpy(),
    })
    first = rows.drop_duplicates("article_idx")
    articles = pd.DataFrame({
        "article_id": "fox-" + first["article_idx"],
        "title": first["article_title"].to_numpy(),
        "body": first["article_meta_description"].to_numpy(),
    })
    return labeled_data(articles, comments, source=str(path))
