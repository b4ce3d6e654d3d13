"""SemEval-2015 Task 3, QatarLiving (Nakov et al., 2015): forum answers judged against the question they answer.

Reads `semeval2015-qatarliving/ql_comments_dev_test.csv` (the official dev and test files). The question is the
"article" (subject as title, body as body, forum category as section); a comment is its body (the comment
subject is left out: it is mostly an automatic "RE: <question subject>", which would copy the title into
every comment).

The mapping is ours, not the task's: `Good` -> on_topic; `Bad` and `Dialogue` -> off_topic. `Potential` and
`Not English` are left out (neither clearly on nor off topic). Extra columns: `split` (dev/test), `gold` (the
fine label) and `same_user` (the commenter asked the question).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.labels import OFF_TOPIC, ON_TOPIC
from training.data import LabeledData
from training.datasets.frames import data_file, labeled_data, read_csv

FOLDER = "semeval2015-qatarliving"
FILE = "ql_comments_dev_test.csv"
COLUMNS = ("split", "QID", "QCATEGORY", "QSubject", "QBody", "QUSERID", "CID", "CUSERID", "CBody", "CGOLD")

#: Our mapping of the task's fine labels; labels not listed are left out.
LABEL_MAP = {"Good": ON_TOPIC, "Bad": OFF_TOPIC, "Dialogue": OFF_TOPIC}


def load(root: Path) -> LabeledData:
    path = data_file(root, FOLDER, FILE)
    rows = read_csv(path, COLUMNS)
    rows = rows.assign(line=rows.index.to_numpy() + 2)
    rows = rows[rows["CGOLD"].isin(LABEL_MAP) & (rows["CBody"].str.strip() != "")]
    comments = pd.DataFrame({
        "comment_id": rows["CID"].to_numpy(),
        "article_id": rows["QID"].to_numpy(),
        "parent_id": "",
        "text": rows["CBody"].to_numpy(),
        "label": rows["CGOLD"].map(LABEL_MAP).to_numpy(),
        "author": rows["CUSERID"].to_numpy(),
        "split": rows["split"].to_numpy(),
        "gold": rows["CGOLD"].to_numpy(),
        "same_user": (rows["CUSERID"] == rows["QUSERID"]).to_numpy(),
        "line": rows["line"].to_numpy(),
    })
    questions = rows.drop_duplicates("QID")
    articles = pd.DataFrame({
        "article_id": questions["QID"].to_numpy(),
        "title": questions["QSubject"].to_numpy(),
        "body": questions["QBody"].to_numpy(),
        "section": questions["QCATEGORY"].to_numpy(),
    })
    return labeled_data(articles, comments, source=str(path))
