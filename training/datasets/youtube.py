"""YouTube Spam Collection (Alberto et al., ICMLA 2015): 1,956 comments under five music videos, spam or not.

Reads `youtube-spam/youtube_spam_all.csv`. Each video is an "article" whose title is the video's title; a
comment is `spam` (CLASS 1) or `on_topic` (CLASS 0, "ham": the set has no off-topic label). The text keeps
what the commenter wrote, with the YouTube API's HTML entities and `<br />` decoded. Extra column: `video`.
Three comment ids occur twice with the same text and label; the second copy is dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.labels import ON_TOPIC, SPAM
from training.data import LabeledData
from training.datasets.frames import clean_web_text, data_file, labeled_data, read_csv

FOLDER = "youtube-spam"
FILE = "youtube_spam_all.csv"
COLUMNS = ("VIDEO", "VIDEO_ID", "COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS")

#: The videos' titles (from the set's README): the only "article" a YouTube comment has.
VIDEO_TITLES = {
    "9bZkp7q19f0": "PSY - Gangnam Style",
    "CevxZvSJLk8": "Katy Perry - Roar",
    "KQ6zr6kCPj8": "LMFAO - Party Rock Anthem",
    "uelHwf8o7_U": "Eminem - Love the Way You Lie",
    "pRpeEdMmmQ0": "Shakira - Waka Waka",
}


def load(root: Path) -> LabeledData:
    path = data_file(root, FOLDER, FILE)
    rows = read_csv(path, COLUMNS)
    rows = rows.assign(line=rows.index.to_numpy() + 2).drop_duplicates("COMMENT_ID", keep="first")
    comments = pd.DataFrame({
        "comment_id": rows["COMMENT_ID"].to_numpy(),
        "article_id": rows["VIDEO_ID"].to_numpy(),
        "parent_id": "",
        "text": [clean_web_text(t) for t in rows["CONTENT"]],
        "label": [SPAM if v == "1" else ON_TOPIC for v in rows["CLASS"]],
        "author": rows["AUTHOR"].to_numpy(),
        "created_at": rows["DATE"].to_numpy(),
        "video": rows["VIDEO"].to_numpy(),
        "line": rows["line"].to_numpy(),
    })
    videos = rows.drop_duplicates("VIDEO_ID")
    articles = pd.DataFrame({
        "article_id": videos["VIDEO_ID"].to_numpy(),
        "title": [VIDEO_TITLES.get(v, name) for v, name in zip(videos["VIDEO_ID"], videos["VIDEO"], strict=True)],
        "body": "",
        "section": "music video",
    })
    return labeled_data(articles, comments, source=str(path))
