"""Labeled-data loading: every field's bad input gets an exact message naming file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from model.errors import DataError, UnknownLabelError
from training.data import load_labeled

ARTICLES_CSV = "article_id,title,body,section\na1,Council passes budget,The council voted 5-2.,politics\n" \
               "a2,United win derby,A late header won it.,sports\n"
COMMENTS_HEADER = "comment_id,article_id,parent_id,text,label\n"
GOOD_COMMENTS = [
    "c1,a1,,The budget vote was rushed,on_topic",
    "c2,a1,c1,Agreed,on_topic",
    "c3,a2,,Earn $500 a day from home,spam",
]


def write(folder: Path, comments: list[str], articles: str = ARTICLES_CSV) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles.csv").write_text(articles, encoding="utf-8")
    (folder / "comments.csv").write_text(COMMENTS_HEADER + "\n".join(comments) + "\n", encoding="utf-8")
    return folder


def error_of(folder: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_labeled(folder)
    return str(caught.value)


def test_valid_csv_loads_with_counts(tmp_path: Path) -> None:
    data = load_labeled(write(tmp_path, GOOD_COMMENTS))
    assert data.counts() == {"articles": 2, "comments": 3, "replies": 1, "labels": {"on_topic": 2, "spam": 1}}
    assert data.labels == ("on_topic", "spam")
    assert list(data.comments["line"]) == [2, 3, 4]


def test_csv_jsonl_and_parquet_give_the_same_data_and_hash(tmp_path: Path) -> None:
    csv_data = load_labeled(write(tmp_path / "csv", GOOD_COMMENTS))
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for stem, frame in (("articles", csv_data.articles), ("comments", csv_data.comments)):
        clean = frame.drop(columns=["line"])
        clean.to_json(jsonl / f"{stem}.jsonl", orient="records", lines=True)
        clean.to_parquet(parquet / f"{stem}.parquet")
    assert load_labeled(jsonl).content_hash() == csv_data.content_hash()
    assert load_labeled(parquet).content_hash() == csv_data.content_hash()


def test_unknown_label_names_file_line_and_field(tmp_path: Path) -> None:
    folder = write(tmp_path, [*GOOD_COMMENTS[:2], "c3,a2,,Nice goal,offtopic"])
    with pytest.raises(UnknownLabelError, match=re.escape(
        "comments.csv line 4, field 'label': label 'offtopic' is not one of on_topic, off_topic, spam"
    )):
        load_labeled(folder)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([*GOOD_COMMENTS, "c1,a1,,Again,on_topic"],
         "comments.csv line 5, field 'comment_id': duplicate id 'c1' (first at line 2)"),
        ([*GOOD_COMMENTS, "c4,a9,,Hello,on_topic"],
         "comments.csv line 5, field 'article_id': article 'a9' is not in articles.csv"),
        ([*GOOD_COMMENTS, "c4,a1,c99,Hello,on_topic"],
         "comments.csv line 5, field 'parent_id': parent 'c99' is not a comment in comments.csv"),
        ([*GOOD_COMMENTS, "c4,a2,c1,Hello,on_topic"],
         "comments.csv line 5, field 'parent_id': parent 'c1' is under article 'a1', not 'a2'"),
        ([*GOOD_COMMENTS, "c4,a1,c4,Hello,on_topic"],
         "comments.csv line 5, field 'parent_id': a comment cannot reply to itself"),
        ([*GOOD_COMMENTS, 'c4,a1,,"   ",on_topic'],
         "comments.csv line 5, field 'text': empty text"),
        ([*GOOD_COMMENTS, ",a1,,Hello,on_topic"],
         "comments.csv line 5, field 'comment_id': empty value; this field is required"),
        ([*GOOD_COMMENTS, "c4,,,Hello,on_topic"],
         "comments.csv line 5, field 'article_id': empty value; this field is required"),
        ([*GOOD_COMMENTS, "c4,a1,,Hello,"],
         "comments.csv line 5, field 'label': label '' is not one of on_topic, off_topic, spam"),
        ([*GOOD_COMMENTS, "c4,a1,,Hello"],
         "comments.csv line 5: expected 5 fields (comment_id, article_id, parent_id, text, label), found 4"),
    ],
)
def test_bad_comment_rows(tmp_path: Path, rows: list[str], expected: str) -> None:
    assert error_of(write(tmp_path, rows)) == expected


def test_line_numbers_count_multiline_quoted_text(tmp_path: Path) -> None:
    rows = ['c1,a1,,"first line\nsecond line\nthird",on_topic', "c2,a1,,Fine,bogus"]
    assert error_of(write(tmp_path, rows)).startswith("comments.csv line 5, field 'label'")


@pytest.mark.parametrize(
    ("articles", "expected"),
    [
        ("article_id,title\na1,Budget\n",
         "articles.csv line 1: missing column(s) 'body'; expected article_id, title, body (found: article_id, title)"),
        ("article_id,title,body\na1,Budget,x\na1,Again,y\n",
         "articles.csv line 3, field 'article_id': duplicate id 'a1' (first at line 2)"),
        ("article_id,title,body\na1,,x\n",
         "articles.csv line 2, field 'title': empty value; this field is required"),
        ("article_id,title,title\na1,x,y\n", "articles.csv line 1: column 'title' appears twice in the header"),
        ("", "articles.csv line 1: the file is empty; expected a header line"),
    ],
)
def test_bad_articles(tmp_path: Path, articles: str, expected: str) -> None:
    assert error_of(write(tmp_path, GOOD_COMMENTS, articles=articles)) == expected


def test_missing_comment_columns(tmp_path: Path) -> None:
    folder = write(tmp_path, [])
    (folder / "comments.csv").write_text("comment_id,article_id,text\nc1,a1,hi\n", encoding="utf-8")
    assert error_of(folder) == (
        "comments.csv line 1: missing column(s) 'parent_id', 'label'; expected comment_id, article_id, "
        "parent_id, text, label (found: comment_id, article_id, text)"
    )


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    folder = write(tmp_path, GOOD_COMMENTS)
    raw = (COMMENTS_HEADER + "c1,a1,,Caf").encode() + b"\xe9 au lait,on_topic\n"
    (folder / "comments.csv").write_bytes(raw)
    assert error_of(folder) == "comments.csv line 2: invalid UTF-8 (byte 0xe9 at column 11); save the file as UTF-8"


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    folder = write(tmp_path, GOOD_COMMENTS)
    (folder / "comments.csv").unlink()
    good = {"comment_id": "c1", "article_id": "a1", "parent_id": None, "text": "Budget talk", "label": "on_topic"}
    lines = [json.dumps(good), "{not json", ""]
    (folder / "comments.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert error_of(folder) == (
        "comments.jsonl line 2: invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    )
    (folder / "comments.jsonl").write_text(json.dumps(good) + "\n[1, 2]\n", encoding="utf-8")
    assert error_of(folder) == "comments.jsonl line 2: expected a JSON object, found list"
    bad_type = {**good, "comment_id": "c2", "text": ["not", "text"]}
    (folder / "comments.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad_type) + "\n", encoding="utf-8")
    assert error_of(folder) == "comments.jsonl line 2, field 'text': expected text, found list"


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    folder = write(tmp_path, GOOD_COMMENTS)
    (folder / "comments.csv").unlink()
    pd.DataFrame({"comment_id": ["c1", "c2"], "article_id": ["a1", "a1"], "parent_id": [None, None],
                  "text": ["ok", "fine"], "label": ["on_topic", "spamm"]}).to_parquet(folder / "comments.parquet")
    assert error_of(folder) == (
        "comments.parquet row 2, field 'label': label 'spamm' is not one of on_topic, off_topic, spam"
    )


def test_folder_problems(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope").endswith(
        "nope: labeled-data folder not found (expected a folder with articles.* and comments.*)"
    )
    folder = write(tmp_path / "two", GOOD_COMMENTS)
    (folder / "comments.jsonl").write_text("", encoding="utf-8")
    assert error_of(folder).endswith("several comments tables (comments.csv, comments.jsonl); keep exactly one")
    (folder / "comments.csv").unlink()
    (folder / "comments.jsonl").unlink()
    assert error_of(folder).endswith("no comments.csv, comments.jsonl or comments.parquet in this folder")


def test_reply_before_its_parent_is_accepted(tmp_path: Path) -> None:
    data = load_labeled(write(tmp_path, ["c2,a1,c1,Agreed,on_topic", "c1,a1,,The vote was rushed,on_topic"]))
    assert data.counts()["replies"] == 1
