"""One Million Posts Corpus (Schabus et al., SIGIR 2017): DER STANDARD posts with moderators' OffTopic labels.

Reads `omp-offtopic/omp_offtopic.csv` (the 3,599 posts annotated for OffTopic, 580 off-topic). A comment is the
post's headline and body. Extra columns:

- `fold`: the official cross-validation fold (`Fold_OffTopic`, 1-10) the paper's figures use;
- `reply_to`: the parent post's id for every reply, even when that parent is not in the file.

`parent_id` is set only when the parent post is itself in the file (1,834 of 2,481 replies), because the
features can only read a parent whose text they have. The article is known by its id; its title and section
path only for 593 of the 913 articles (the corpus' article bodies are not available here, see the set's README).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.labels import OFF_TOPIC, ON_TOPIC
from training.data import LabeledData
from training.datasets.frames import data_file, labeled_data, read_csv

FOLDER = "omp-offtopic"
FILE = "omp_offtopic.csv"
COLUMNS = ("ID_Post", "ID_Parent_Post", "ID_Article", "Headline", "Body", "OffTopic", "Fold_OffTopic",
           "article_title", "article_path", "article_publishing_date", "CreatedAt")


def load(root: Path) -> LabeledData:
    path = data_file(root, FOLDER, FILE)
    posts = read_csv(path, COLUMNS)
    posts = posts[posts["OffTopic"].isin(["0", "1"])]
    texts = [f"{h.strip()}\n{b.strip()}".strip() for h, b in zip(posts["Headline"], posts["Body"], strict=True)]
    known = set(posts["ID_Post"])
    comments = pd.DataFrame({
        "comment_id": posts["ID_Post"].to_numpy(),
        "article_id": posts["ID_Article"].to_numpy(),
        "parent_id": [p if p in known else "" for p in posts["ID_Parent_Post"]],
        "text": texts,
        "label": [OFF_TOPIC if v == "1" else ON_TOPIC for v in posts["OffTopic"]],
        "created_at": posts["CreatedAt"].to_numpy(),
        "fold": posts["Fold_OffTopic"].astype(int).to_numpy(),
        "reply_to": posts["ID_Parent_Post"].to_numpy(),
        "line": posts.index.to_numpy() + 2,
    })
    comments = comments[comments["text"] != ""]
    first = posts.drop_duplicates("ID_Article")
    articles = pd.DataFrame({
        "article_id": first["ID_Article"].to_numpy(),
        "title": first["article_title"].to_numpy(),
        "body": "",
        "section": first["article_path"].to_numpy(),
        "published_at": first["article_publishing_date"].to_numpy(),
    })
    return labeled_data(articles, comments, source=str(path))
