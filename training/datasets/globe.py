"""SFU Constructiveness & Toxicity Corpus (Kolhatkar & Taboada, 2017): 1,121 Globe and Mail opinion comments.

Reads `sfu-ctc-globeandmail/sfu_constructiveness_toxicity.csv`. The article is its title only (no body is
available); the same article appears with and without the " - The Globe and Mail" suffix, so articles are keyed
by the title without it. The set is labeled for constructiveness and toxicity, not topic: every comment is
`on_topic`, and the article-pairing protocol builds the off-topic side. Extra columns: `constructive`, `toxicity`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from model.labels import ON_TOPIC
from training.data import LabeledData
from training.datasets.frames import data_file, labeled_data, read_csv

FOLDER = "sfu-ctc-globeandmail"
FILE = "sfu_constructiveness_toxicity.csv"
COLUMNS = ("_unit_id", "title", "comment", "is_constructive", "is_toxic_popular_answer_1")
SUFFIX = " - The Globe and Mail"


def load(root: Path) -> LabeledData:
    path = data_file(root, FOLDER, FILE)
    rows = read_csv(path, COLUMNS)
    rows = rows.assign(line=rows.index.to_numpy() + 2)
    rows = rows[rows["comment"].str.strip() != ""]
    titles = rows["title"].str.strip().str.removesuffix(SUFFIX).str.strip()
    keys = ["gm-" + hashlib.sha1(t.encode("utf-8")).hexdigest()[:10] for t in titles]
    comments = pd.DataFrame({
        "comment_id": "gm-" + rows["_unit_id"],
        "article_id": keys,
        "parent_id": "",
        "text": rows["comment"].to_numpy(),
        "label": ON_TOPIC,
        "constructive": rows["is_constructive"].to_numpy(),
        "toxicity": rows["is_toxic_popular_answer_1"].to_numpy(),
        "line": rows["line"].to_numpy(),
    })
    articles = (
        pd.DataFrame({"article_id": keys, "title": titles.to_numpy(), "body": ""})
        .drop_duplicates("article_id")
    )
    return labeled_data(articles, comments, source=str(path))
