"""Dump readers: every format, chunked, and a broken row is an error row in its place, never a crash."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.readers import open_dump
from batch.readers.base import Chunk, Dump, text_column
from batch.readers.csv_reader import CsvDump
from model.errors import DataError

HEADER = ["comment_id", "article_id", "parent_id", "text"]
ROWS = [
    ["c1", "budget", "", "Taxes up, library hours down."],
    ["c2", "budget", "c1", 'She said "no" twice,\nthen left.'],
    ["c3", "derby", "", "What a header!"],
    ["c4", "derby", "c3", "Ünïcödé and emoji 🎉"],
    ["c5", "measles", "", "Vaccinate, please."],
]

WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>City Desk</title>
  <wp:wxr_version>1.2</wp:wxr_version>
  <item>
    <title>Council passes city budget</title>
    <content:encoded><![CDATA[<p>The council voted <b>5-2</b> to raise property taxes &amp; cut library hours.</p>]]>
    </content:encoded>
    <wp:post_id>101</wp:post_id>
    <wp:post_type>post</wp:post_type>
    <wp:comment>
      <wp:comment_id>7</wp:comment_id>
      <wp:comment_author><![CDATA[Ann]]></wp:comment_author>
      <wp:comment_date_gmt>2024-05-01 10:00:00</wp:comment_date_gmt>
      <wp:comment_content><![CDATA[Taxes again? <a href="https://example.org/budget">Read the budget</a>]]>
      </wp:comment_content>
      <wp:comment_approved>1</wp:comment_approved>
      <wp:comment_type>comment</wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>8</wp:comment_id>
      <wp:comment_author><![CDATA[Bob]]></wp:comment_author>
      <wp:comment_content><![CDATA[Pensions have to be paid.]]></wp:comment_content>
      <wp:comment_approved>spam</wp:comment_approved>
      <wp:comment_parent>7</wp:comment_parent>
    </wp:comment>
  </item>
  <item>
    <title>An attachment without comments</title>
    <wp:post_id>102</wp:post_id>
    <wp:post_type>attachment</wp:post_type>
  </item>
  <item>
    <title>United beat City</title>
    <content:encoded><![CDATA[A late header won the derby.]]></content:encoded>
    <wp:post_id>103</wp:post_id>
    <wp:comment>
      <wp:comment_id>9</wp:comment_id>
      <wp:comment_content><![CDATA[What a header!]]></wp:comment_content>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
  </item>
</channel>
</rss>
"""

DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <category dsq:id="1"><forum>citydesk</forum><title>General</title></category>
  <thread dsq:id="t1">
    <id>budget-story</id>
    <link>https://news.example/budget</link>
    <title>Council passes city budget</title>
    <message><![CDATA[<p>Property taxes rise 3 percent.</p>]]></message>
  </thread>
  <thread dsq:id="t2">
    <link>https://news.example/derby</link>
    <title></title>
  </thread>
  <post dsq:id="p1">
    <message><![CDATA[<p>Taxes again?</p><p>Unbelievable.</p>]]></message>
    <createdAt>2024-05-01T10:00:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><name>Ann</name><username>ann</username></author>
    <thread dsq:id="t1"/>
  </post>
  <post dsq:id="p2">
    <message><![CDATA[Agreed &amp; well said]]></message>
    <isSpam>true</isSpam>
    <author><username>bob</username></author>
    <thread dsq:id="t1"/>
    <parent dsq:id="p1"/>
  </post>
  <post dsq:id="p3">
    <message><![CDATA[Where is this thread?]]></message>
    <thread dsq:id="t9"/>
  </post>
  <post dsq:id="p4">
    <message><![CDATA[Late header!]]></message>
    <thread dsq:id="t2"/>
  </post>
</disqus>
"""


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, newline: str = "\n") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def all_chunks(dump: Dump, chunk_rows: int = 2) -> list[Chunk]:
    return list(dump.chunks(chunk_rows))


def rows_of(chunks: list[Chunk]) -> list[dict[str, object]]:
    return [row for chunk in chunks for row in chunk.table.to_pylist()]


def errors_of(chunks: list[Chunk]) -> list[str | None]:
    return [p.message if p is not None else None for chunk in chunks for p in chunk.problems]


# -- CSV --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_rows_arrive_in_order_in_chunks_of_the_asked_size(tmp_path: Path, newline: str) -> None:
    dump = open_dump(write_csv(tmp_path / "c.csv", ROWS, newline=newline))
    chunks = all_chunks(dump, 2)
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [c.first_row for c in chunks] == [0, 2, 4]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert rows_of(chunks) == [dict(zip(HEADER, row, strict=True)) for row in ROWS]
    assert errors_of(chunks) == [None] * len(ROWS)
    assert dump.columns == tuple(HEADER)


def test_csv_with_a_byte_order_mark_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,article_id,author\nHello there,budget,ann\n")
    chunks = all_chunks(open_dump(path))
    assert rows_of(chunks) == [{"text": "Hello there", "article_id": "budget", "author": "ann"}]


def test_broken_csv_lines_become_error_rows_and_the_others_survive(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(
        b"comment_id,article_id,parent_id,text\n"
        b"c1,budget,,Fine row\n"
        b"c2,budget,,bad \xff byte\n"
        b"c3,budget,,too,many,fields\n"
        b"\n"
        b'c4,budget,,"quoted\nover two lines"\n'
        b"c5,budget\n"
        b"c6,derby,,Last row\n"
    )
    chunks = all_chunks(open_dump(path), 4)
    assert errors_of(chunks) == [
        None,
        "line 3: invalid UTF-8 (byte 0xff at column 16)",
        "line 4: expected 4 fields, found 6",
        None,
        "line 8: expected 4 fields, found 2",
        None,
    ]
    rows = rows_of(chunks)
    assert [r["comment_id"] for r in rows] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert rows[1]["text"] == "bad \ufffd byte"
    assert rows[3]["text"] == "quoted\nover two lines"
    assert rows[4] == {"comment_id": "c5", "article_id": "budget", "parent_id": None, "text": None}
    assert [c.first_row for c in chunks] == [0, 4]


def test_a_broken_line_late_in_the_file_switches_readers_without_losing_or_repeating_rows(tmp_path: Path) -> None:
    rows = [[f"c{i}", "budget", "", f"comment number {i}, with a comma"] for i in range(3000)]
    path = write_csv(tmp_path / "late.csv", rows)
    with path.open("ab") as handle:
        handle.write(b"c-bad,budget,,\xc3\x28 broken\nc-last,budget,,the end\n")
    # A small Arrow block size makes Arrow deliver many chunks before it meets the broken line.
    chunks = list(CsvDump(path, block_size=1 << 12).chunks(7))
    ids = [r["comment_id"] for r in rows_of(chunks)]
    assert ids == [f"c{i}" for i in range(3000)] + ["c-bad", "c-last"]
    assert errors_of(chunks)[-2:] == ["line 3002: invalid UTF-8 (byte 0xc3 at column 15)", None]
    assert all(len(c) == 7 for c in chunks[:-1])


def test_csv_problems_with_the_whole_file_are_data_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv line 1: the file is empty"):
        open_dump(empty)
    no_text = write_csv(tmp_path / "no_text.csv", [["c1", "budget"]], header=["comment_id", "article_id"])
    with pytest.raises(DataError, match=r"no_text.csv line 1: missing column\(s\) 'text'"):
        open_dump(no_text)
    twice = write_csv(tmp_path / "twice.csv", [["a", "b", "c"]], header=["text", "article_id", "text"])
    with pytest.raises(DataError, match="column 'text' appears twice"):
        open_dump(twice)
    with pytest.raises(DataError, match="file not found"):
        open_dump(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        open_dump(write_csv(tmp_path / "c.txt", ROWS))


# -- JSON Lines -------------------------------------------------------------------------------------------
def test_jsonl_columns_are_every_key_and_values_are_text(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    lines = [
        {"comment_id": "c1", "article_id": "budget", "text": "Hi there"},
        {"comment_id": 2, "article_id": "budget", "text": "Nested", "meta": {"likes": 3}, "flag": True},
        {"article_id": "derby", "text": "No id", "parent_id": None},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    dump = open_dump(path)
    assert dump.columns == ("comment_id", "article_id", "text", "meta", "flag", "parent_id")
    rows = rows_of(all_chunks(dump))
    assert rows[1] == {"comment_id": "2", "article_id": "budget", "text": "Nested", "meta": '{"likes": 3}',
                       "flag": "true", "parent_id": None}
    assert rows[2]["comment_id"] is None and rows[2]["text"] == "No id"


def test_broken_jsonl_lines_become_error_rows(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(
        b'{"article_id": "budget", "text": "ok"}\n'
        b'{"article_id": "budget", "text": "cut off\n'
        b'["not", "an", "object"]\n'
        b'{"article_id": "budget", "text": "bad \xfe"}\n'
        b"\n"
        b'{"article_id": "derby", "text": "last"}\n'
    )
    chunks = all_chunks(open_dump(path), 10)
    errors = errors_of(chunks)
    assert errors[0] is None and errors[4] is None
    assert errors[1] is not None and errors[1].startswith("line 2: invalid JSON (Unterminated string")
    assert errors[2] == "line 3: expected a JSON object, found an array"
    assert errors[3] == "line 4: invalid UTF-8 (byte 0xfe at column 39)"
    assert [r["text"] for r in rows_of(chunks)] == ["ok", None, None, None, "last"]


# -- Parquet ----------------------------------------------------------------------------------------------
def test_parquet_keeps_its_types_and_ids_become_text_for_scoring(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    table = pa.table({"comment_id": pa.array(range(5), pa.int64()), "article_id": ["budget"] * 5,
                      "text": [r[3] for r in ROWS], "likes": pa.array([1.5, None, 3.0, 4.0, 5.0])})
    pq.write_table(table, path, row_group_size=2)
    dump = open_dump(path)
    chunks = all_chunks(dump, 3)
    assert [len(c) for c in chunks] == [3, 2]
    assert pa.concat_tables([c.table for c in chunks]).equals(table)
    problems: list = [None] * 3
    ids = text_column(chunks[0].table, "comment_id", problems)
    assert ids is not None and ids.to_pylist() == ["0", "1", "2"]


def test_a_damaged_parquet_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot read Parquet"):
        open_dump(path)


# -- WordPress and Disqus ---------------------------------------------------------------------------------
def test_wordpress_export_gives_comments_with_their_posts_as_articles(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text(WXR, encoding="utf-8")
    dump = open_dump(path)
    assert dump.format == "wxr"
    chunks = all_chunks(dump, 2)
    rows = rows_of(chunks)
    assert [(r["comment_id"], r["article_id"], r["parent_id"]) for r in rows] == [
        ("7", "101", None), ("8", "101", "7"), ("9", "103", None)]
    assert rows[0]["text"] == "Taxes again? Read the budget (https://example.org/budget)"
    assert rows[0]["author"] == "Ann" and rows[0]["created_at"] == "2024-05-01 10:00:00"
    assert rows[1]["status"] == "spam"
    article = chunks[0].articles["101"]
    assert article.title == "Council passes city budget"
    assert article.body == "The council voted 5-2 to raise property taxes & cut library hours."
    assert set(chunks[1].articles) == {"103"}


def test_disqus_export_gives_posts_with_their_threads_as_articles(tmp_path: Path) -> None:
    path = tmp_path / "disqus.xml"
    path.write_text(DISQUS, encoding="utf-8")
    dump = open_dump(path)
    assert dump.format == "disqus"
    chunks = all_chunks(dump, 10)
    rows = rows_of(chunks)
    assert [(r["comment_id"], r["article_id"], r["parent_id"]) for r in rows] == [
        ("p1", "t1", None), ("p2", "t1", "p1"), ("p3", "t9", None), ("p4", "t2", None)]
    assert rows[0]["text"] == "Taxes again?\nUnbelievable."
    assert rows[1]["text"] == "Agreed & well said" and rows[1]["author"] == "bob" and rows[1]["is_spam"] == "true"
    articles = chunks[0].articles
    assert articles["t1"].title == "Council passes city budget"
    assert articles["t1"].body == "Property taxes rise 3 percent."
    assert articles["t2"].title == "https://news.example/derby"  # no title: the link stands in
    assert "t9" not in articles


def test_xml_that_declares_entities_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        '<disqus xmlns="http://disqus.com"><post><message>&lol2;</message></post></disqus>\n'
    )
    path = tmp_path / "bomb.xml"
    path.write_text(bomb, encoding="utf-8")
    with pytest.raises(DataError, match=r"bomb\.xml: refused: the file declares XML entities"):
        all_chunks(open_dump(path))
    external = WXR.replace("<rss", '<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n<rss', 1)
    external = external.replace("Pensions have to be paid.", "]]>&secret;<![CDATA[")
    path.write_text(external, encoding="utf-8")
    with pytest.raises(DataError, match="refused"):
        all_chunks(open_dump(path))


def test_xml_cut_short_keeps_what_was_read_and_ends_with_an_error_row(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text(DISQUS[: DISQUS.index("<post dsq:id=\"p3\">") + 40], encoding="utf-8")
    chunks = all_chunks(open_dump(path), 10)
    rows = rows_of(chunks)
    assert [r["comment_id"] for r in rows] == ["p1", "p2", None]
    last = errors_of(chunks)[-1]
    assert last is not None and "malformed XML" in last and "nothing after it could be read" in last


def test_an_xml_file_that_is_no_export_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text("<root><a>1</a></root>", encoding="utf-8")
    with pytest.raises(DataError, match="neither a WordPress export"):
        open_dump(path)
    garbage = tmp_path / "garbage.xml"
    garbage.write_text("this is not < xml at all, though it mentions disqus.com", encoding="utf-8")
    with pytest.raises(DataError, match="not well-formed XML"):
        all_chunks(open_dump(garbage))
