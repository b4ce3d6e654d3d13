"""Hostile input for the readers: any bytes, any unicode, huge lines, deep XML, mixed encodings, XML bombs.

The promise tested everywhere: a clear error (DataError, or an error row that keeps its place) or a result,
never another exception and never a hang (each test is bounded by pytest-timeout, and inputs by size).
Text normalisation has its own property tests in tests/model/test_text_and_cues.py.

Examples per property: RELIABILITY_PROPERTY_EXAMPLES (default 60); the long run uses 2,000.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from batch.readers import open_dump
from batch.readers.base import Chunk
from model.errors import DataError
from model.labels import LABELS
from moderate.cli import app
from tests.reliability.conftest import derandomized, files_opened, property_examples
from training.data import LabeledData, load_labeled

PROPERTY = settings(max_examples=property_examples(), deadline=None, database=None, derandomize=derandomized(),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Any unicode a file can hold: everything but lone surrogates (not characters; no UTF-8 file holds them).
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
ARTICLES = b'{"article_id": "a1", "title": "Council passes budget", "body": "Taxes rise."}\n'


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:  # one folder reused by every example (tmp_path is per test)
        yield Path(name)


def clear_folder(folder: Path) -> Path:
    for path in folder.iterdir():
        path.unlink()
    return folder


def load_or_data_error(folder: Path) -> LabeledData | None:
    try:
        return load_labeled(folder)
    except DataError as error:
        assert str(error), "a DataError must say something"
        return None


def read_all(path: Path, fmt: str | None = None, chunk_rows: int = 7) -> list[Chunk] | None:
    """Every chunk of a dump, checking the chunk contract as it goes; None when the file is refused as a whole."""
    try:
        dump = open_dump(path, fmt)
        chunks = []
        delivered = 0
        for index, chunk in enumerate(dump.chunks(chunk_rows)):
            assert chunk.index == index and chunk.first_row == delivered
            assert len(chunk.problems) == len(chunk) == chunk.table.num_rows
            assert tuple(chunk.table.column_names) == dump.columns
            chunks.append(chunk)
            delivered += len(chunk)
        assert all(len(c) == chunk_rows for c in chunks[:-1]) and (not chunks or 0 < len(chunks[-1]) <= chunk_rows)
        return chunks
    except DataError as error:
        assert str(error)
        return None


def rows(chunks: list[Chunk]) -> list[dict[str, Any]]:
    return [row for chunk in chunks for row in chunk.table.to_pylist()]


def problems(chunks: list[Chunk]) -> list[str | None]:
    return [p.message if p else None for chunk in chunks for p in chunk.problems]


# -- the labeled-data loader ------------------------------------------------------------------------------
@PROPERTY
@given(articles=st.binary(max_size=600), comments=st.binary(max_size=1500),
       kind=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_loader_on_any_bytes_gives_data_or_a_data_error(folder: Path, articles: bytes, comments: bytes,
                                                         kind: str) -> None:
    clear_folder(folder)
    (folder / f"articles.{kind}").write_bytes(articles)
    (folder / f"comments.{kind}").write_bytes(comments)
    load_or_data_error(folder)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=12,
)
comment_fields = st.fixed_dictionaries(
    {"comment_id": ANY_TEXT | json_values, "article_id": st.sampled_from(["a1", "a2", ""]) | json_values,
     "text": ANY_TEXT | json_values, "label": st.sampled_from([*LABELS, "offtopic"]) | json_values},
    optional={"parent_id": ANY_TEXT | st.none(), "extra": json_values},
)


@PROPERTY
@given(records=st.lists(comment_fields | json_values, max_size=12),
       garbage=st.lists(st.tuples(st.integers(0, 12), st.binary(max_size=40)), max_size=2))
def test_loader_on_any_json_lines_gives_data_or_a_data_error(
    folder: Path, records: list[Any], garbage: list[tuple[int, bytes]]
) -> None:
    lines = [json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass") for record in records]
    for position, raw in garbage:
        lines.insert(min(position, len(lines)), raw.replace(b"\n", b" "))
    clear_folder(folder)
    (folder / "articles.jsonl").write_bytes(ARTICLES)
    (folder / "comments.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    load_or_data_error(folder)


@PROPERTY
@given(texts=st.lists(ANY_TEXT.filter(lambda t: t.strip()), min_size=1, max_size=10))
def test_loader_keeps_any_unicode_comment_text_exactly(folder: Path, texts: list[str]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["comment_id", "article_id", "parent_id", "text", "label"])
    for i, text in enumerate(texts):
        writer.writerow([f"c{i}", "a1", "", text, LABELS[i % len(LABELS)]])
    clear_folder(folder)
    (folder / "articles.jsonl").write_bytes(ARTICLES)
    (folder / "comments.csv").write_bytes(buffer.getvalue().encode("utf-8"))
    loaded = load_labeled(folder)
    assert list(loaded.comments["text"]) == texts


def test_loader_refuses_what_json_allows_but_text_files_cannot_hold(folder: Path) -> None:
    """Found by the property above: each of these used to escape as RecursionError, ValueError or
    UnicodeEncodeError instead of a DataError naming the line."""
    cases = {
        "[" * 100_000: "nested too deeply",
        '{"comment_id": ' + "7" * 5000 + "}": "integer string conversion",
        '{"comment_id": "c1", "article_id": "a1", "text": "hi \\ud800", "label": "spam"}': r"escape \ud800 is half",
    }
    for line, expected in cases.items():
        clear_folder(folder)
        (folder / "articles.jsonl").write_bytes(ARTICLES)
        (folder / "comments.jsonl").write_text(json.dumps({"comment_id": "c0", "article_id": "a1", "text": "ok",
                                                           "label": "spam"}) + "\n" + line + "\n")
        with pytest.raises(DataError, match=r"comments\.jsonl line 2: invalid JSON .*" + re.escape(expected)):
            load_labeled(folder)


def test_loader_reads_a_huge_line(folder: Path) -> None:
    text = "word " * 1_000_000  # 5 MB in one comment
    clear_folder(folder)
    (folder / "articles.jsonl").write_bytes(ARTICLES)
    row = {"comment_id": "c1", "article_id": "a1", "parent_id": None, "text": text, "label": "spam"}
    (folder / "comments.jsonl").write_text(json.dumps(row) + "\n")
    assert load_labeled(folder).comments["text"][0] == text


# -- the dump readers -------------------------------------------------------------------------------------
@PROPERTY
@given(content=st.binary(max_size=3000), fmt=st.sampled_from(["csv", "jsonl", "wxr", "disqus", "parquet"]))
def test_dump_readers_on_any_bytes_give_rows_or_a_data_error(folder: Path, content: bytes, fmt: str) -> None:
    clear_folder(folder)
    path = folder / "dump.bin"
    path.write_bytes(content)
    read_all(path, fmt)


@PROPERTY
@given(header=st.sampled_from(["text,article_id,comment_id\n", "\ufefftext,article_id\n", "article_id,text,x\n"]),
       lines=st.lists(st.binary(max_size=80), max_size=20))
def test_csv_dump_with_random_lines_gives_rows_or_a_data_error(folder: Path, header: str, lines: list[bytes]) -> None:
    clear_folder(folder)
    path = folder / "dump.csv"
    path.write_bytes(header.encode("utf-8") + b"\n".join(lines))
    read_all(path)


@PROPERTY
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=25), chunk_rows=st.integers(1, 9))
def test_csv_and_jsonl_dumps_give_back_any_unicode_exactly_in_order(folder: Path, texts: list[str],
                                                                     chunk_rows: int) -> None:
    keep = [t for t in texts if t.strip()] or ["x"]  # blank lines are not rows (a text of spaces alone is one)
    frame_rows = [{"comment_id": f"c{i}", "article_id": "a1", "text": t} for i, t in enumerate(keep)]
    clear_folder(folder)
    csv_path = folder / "dump.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["comment_id", "article_id", "text"])
        writer.writeheader()
        writer.writerows(frame_rows)
    jsonl_path = folder / "dump.jsonl"
    jsonl_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame_rows), encoding="utf-8")
    for path in (csv_path, jsonl_path):
        chunks = read_all(path, chunk_rows=chunk_rows)
        assert chunks is not None
        assert rows(chunks) == frame_rows
        assert problems(chunks) == [None] * len(frame_rows)


@PROPERTY
@given(lines=st.lists(st.tuples(st.text(alphabet=st.characters(codec="latin-1"), min_size=1, max_size=40),
                                st.sampled_from(["utf-8", "latin-1", "cp1252"])), min_size=1, max_size=20))
def test_mixed_encodings_flag_only_the_lines_that_are_not_utf8(folder: Path, lines: list[tuple[str, str]]) -> None:
    encoded = []
    for text, encoding in lines:
        text = text.replace('"', "'").replace("\r", " ").replace("\n", " ").strip() or "x"
        try:
            raw = text.encode(encoding)
        except UnicodeEncodeError:  # cp1252 lacks a few latin-1 characters
            raw = text.encode("utf-8")
        encoded.append(raw)
    content = b"comment_id,article_id,text\n" + b"".join(
        f"c{i},a1,".encode() + b'"' + raw + b'"\n' for i, raw in enumerate(encoded)
    )
    clear_folder(folder)
    path = folder / "mixed.csv"
    path.write_bytes(content)
    chunks = read_all(path)
    assert chunks is not None
    got = rows(chunks)
    assert [r["comment_id"] for r in got] == [f"c{i}" for i in range(len(encoded))]
    for i, (raw, row, problem) in enumerate(zip(encoded, got, problems(chunks), strict=True)):
        try:
            expected = raw.decode("utf-8")
        except UnicodeDecodeError:
            assert problem is not None and f"line {i + 2}: invalid UTF-8" in problem
        else:
            assert problem is None and row["text"] == expected


def test_huge_lines_are_one_row_each(folder: Path) -> None:
    clear_folder(folder)
    big = "spam " * 1_200_000  # 6 MB: more than the CSV reader's 4 MB block
    path = folder / "huge.csv"
    path.write_text(f'comment_id,article_id,text\nc1,a1,"{big}"\nc2,a1,short\n', encoding="utf-8")
    chunks = read_all(path)
    assert chunks is not None and [r["comment_id"] for r in rows(chunks)] == ["c1", "c2"]
    assert problems(chunks)[1] is None
    # The first row is read whole, or (past the tolerant reader's field limit) an error row that says so.
    assert rows(chunks)[0]["text"] == big or "field larger than field limit" in str(problems(chunks)[0])
    jsonl = folder / "huge.jsonl"
    jsonl.write_text(json.dumps({"comment_id": "c1", "article_id": "a1", "text": big}) + "\n", encoding="utf-8")
    chunks = read_all(jsonl)
    assert chunks is not None and rows(chunks)[0]["text"] == big


def test_json_lines_dump_marks_what_text_cannot_hold_and_goes_on(folder: Path) -> None:
    clear_folder(folder)
    path = folder / "odd.jsonl"
    path.write_text(
        "\n".join(['{"comment_id": "c1", "article_id": "a1", "text": "fine"}', "[" * 50_000,
                   '{"comment_id": "c3", "article_id": "a1", "text": "x", "n": ' + "9" * 5000 + "}",
                   '{"comment_id": "c4", "article_id": "a1", "text": "half \\udc80 a pair"}',
                   '{"comment_id": "c5", "article_id": "a1", "text": "emoji \\ud83c\\udf89 is fine"}']) + "\n",
        encoding="utf-8",
    )
    chunks = read_all(path)
    assert chunks is not None
    found = problems(chunks)
    assert found[0] is None and found[4] is None and rows(chunks)[4]["text"] == "emoji 🎉 is fine"
    assert "line 2: invalid JSON (nested too deeply)" in str(found[1])
    assert "line 3: invalid JSON (Exceeds the limit" in str(found[2])
    assert r"line 4: invalid JSON (the escape \udc80 is half a surrogate pair" in str(found[3])


# -- XML: depth, bombs, external references ---------------------------------------------------------------
WXR_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<rss xmlns:wp="http://wordpress.org/export/1.2/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item><title>Budget</title>'
            "<wp:post_id>1</wp:post_id>")
WXR_COMMENT = ("<wp:comment><wp:comment_id>{id}</wp:comment_id><wp:comment_content>{content}</wp:comment_content>"
               "</wp:comment>")
WXR_TAIL = "</item></channel></rss>\n"


def wxr(content: str, doctype: str = "") -> str:
    return (WXR_HEAD.format(doctype=doctype) + WXR_COMMENT.format(id=1, content=content)
            + WXR_COMMENT.format(id=2, content="after") + WXR_TAIL)


@PROPERTY
@given(fragment=st.binary(max_size=300), depth=st.integers(0, 3))
def test_wxr_with_random_bytes_inside_gives_rows_or_a_data_error(folder: Path, fragment: bytes, depth: int) -> None:
    clear_folder(folder)
    path = folder / "dump.xml"
    head, tail = wxr("@@").encode("utf-8").split(b"@@")
    path.write_bytes(head + b"<b>" * depth + fragment + b"</b>" * depth + tail)
    read_all(path, "wxr")


def test_deeply_nested_xml_is_read_in_bounded_time(folder: Path) -> None:
    clear_folder(folder)
    path = folder / "deep.xml"
    path.write_text(wxr("<b>" * 200_000 + "deep" + "</b>" * 200_000), encoding="utf-8")
    chunks = read_all(path, "wxr")
    assert chunks is not None and [r["comment_id"] for r in rows(chunks)] == ["1", "2"]




@pytest.mark.parametrize("name", ["billion laughs", "quadratic blowup", "external entity", "parameter entity",
                                  "external DTD", "XInclude"])
def test_xml_bombs_and_external_references_are_refused_and_nothing_is_fetched(
    tmp_path: Path, tiny_bundle_dir: Path, name: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "file://{secret}">')
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    documents = {
        "billion laughs": wxr("&l9;", f"<!DOCTYPE rss [{laughs}]>\n"),
        "quadratic blowup": wxr("&a;" * 20_000, f'<!DOCTYPE rss [<!ENTITY a "{"x" * 50_000}">]>\n'),
        "external entity": wxr("&leak;", f'<!DOCTYPE rss [<!ENTITY leak SYSTEM "file://{secret}">]>\n'),
        "parameter entity": wxr("&leak;", f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{dtd}"> %p;]>\n'),
        "external DTD": wxr("&leak;", f'<!DOCTYPE rss SYSTEM "file://{dtd}">\n'),
        "XInclude": wxr(f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" '
                        'parse="text"/>'),
    }
    path = tmp_path / "export.xml"
    path.write_text(documents[name], encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    with files_opened() as opened:
        result = CliRunner().invoke(app, ["score", str(path), "-o", str(out), "--quiet", "--workers", "1",
                                          "--model", str(tiny_bundle_dir)])
    assert str(path) in opened  # the hook sees what the reader opens...
    assert not [p for p in opened if "secret" in p or "evil.dtd" in p], opened  # ...and nothing else was
    assert "Traceback" not in result.stderr
    if name in ("billion laughs", "quadratic blowup", "external entity", "parameter entity"):
        assert result.exit_code == 1
        assert "refused: the file declares XML entities or external references" in result.stderr
        assert not out.exists()
    else:  # no entity declared: the DTD is never fetched (so &leak; is undefined), an XInclude is just an element
        assert result.exit_code == 0, result.stderr
        scored = [json.loads(line) for line in out.read_text().splitlines()]
        assert "SECRET-MARKER" not in out.read_text()
        if name == "external DTD":
            assert "undefined entity" in scored[-1]["error"]


def test_parquet_with_odd_types_gives_rows_or_a_data_error(folder: Path) -> None:
    clear_folder(folder)
    path = folder / "odd.parquet"
    table = pa.table({
        "text": pa.array([b"ok", b"\xff\xfe broken", None], type=pa.binary()),
        "article_id": pa.array([1, 2, None], type=pa.int64()),
        "comment_id": pa.array([[1], [], None], type=pa.list_(pa.int64())),
    })
    pq.write_table(table, path)
    chunks = read_all(path)
    assert chunks is not None and len(rows(chunks)) == 3
