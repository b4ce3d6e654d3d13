"""Read a small table (CSV, JSON Lines or Parquet, chosen by extension) as records that know their line.

Used where every row must be validated and every error must name its place: labeled training data and article
files. Whole-file reads are fine here; batch scoring of large dumps streams instead (`batch.readers.base`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import DataError

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True)
class Record:
    """One row and where it came from: `line` for CSV/JSONL (1-based, header is line 1), row for Parquet."""

    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Table:
    """The records of one file, its column names, and how to name a place in it."""

    path: Path
    columns: tuple[str, ...]
    records: list[Record]

    @property
    def unit(self) -> str:
        return "row" if self.path.suffix.lower() == ".parquet" else "line"

    @property
    def name(self) -> str:
        return self.path.name


_FORMAT_OF_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def suffix_format(path: Path) -> str | None:
    """csv, jsonl or parquet from a file's extension (.json and .ndjson are JSON Lines), None for anything else.

    The one mapping every reader and writer uses, so a file name means the same format everywhere.
    """
    return _FORMAT_OF_SUFFIX.get(path.suffix.lower())


def table_format(path: Path) -> str:
    """csv, jsonl or parquet, from the file extension; anything else is a DataError naming the file."""
    kind = suffix_format(path)
    if kind is None:
        raise DataError(
            f"unsupported file type {path.suffix or '(none)'!r}; use .csv, .jsonl or .parquet", path=path.name
        )
    return kind


def read_table(path: Path) -> Table:
    """All records of a CSV, JSONL or Parquet file; DataError names the line of any malformed input."""
    kind = table_format(path)
    if not path.exists():
        raise DataError("file not found", path=str(path))
    if kind == "parquet":
        return _read_parquet(path)
    raw = path.read_bytes()
    text = decode_utf8(raw, path.name)
    if kind == "csv":
        return _read_csv(path, text)
    return _read_jsonl(path, text)


def decode_utf8(raw: bytes, name: str) -> str:
    """Strict UTF-8 (a BOM is allowed); an undecodable byte is reported with its line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        detail = utf8_detail(raw, error, line_start=raw.rfind(b"\n", 0, error.start) + 1)
        raise DataError(f"invalid UTF-8 ({detail}); save the file as UTF-8", path=name, line=line) from None


def _read_csv(path: Path, text: str) -> Table:
    if not text.strip():
        raise DataError("the file is empty; expected a header line", path=path.name, line=1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as error:
        raise DataError(f"malformed CSV header ({error})", path=path.name, line=1) from None
    check_header(header, path.name)
    records: list[Record] = []
    line = reader.line_num + 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"expected {len(header)} fields ({', '.join(header)}), found {len(row)}",
                    path=path.name, line=start,
                )
            records.append(Record(start, dict(zip(header, row, strict=True))))
    except csv.Error as error:
        raise DataError(f"malformed CSV ({error})", path=path.name, line=line) from None
    return Table(path, tuple(header), records)


def _read_jsonl(path: Path, text: str) -> Table:
    records: list[Record] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value, reason = parse_json_line(line)
        if reason is not None:
            raise DataError(reason, path=path.name, line=number)
        if not isinstance(value, dict):
            raise DataError(f"expected a JSON object, found {type(value).__name__}", path=path.name, line=number)
        columns.update(dict.fromkeys(value))
        records.append(Record(number, value))
    return Table(path, tuple(columns), records)


def parse_json_line(line: str) -> tuple[Any, str | None]:
    """(value, None) for one line of JSON Lines, or (None, reason) in the one wording every reader uses.

    Labeled data stops at the reason; a dump being scored puts it in that row's `error` column.
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"invalid JSON ({error.msg} at column {error.colno})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    except ValueError as error:  # e.g. an integer longer than Python converts (4,300 digits)
        return None, f"invalid JSON ({error})"
    surrogate = lone_surrogate(line, value)
    if surrogate is not None:  # valid JSON, but not text that UTF-8 output can hold
        return None, f"invalid JSON (the escape {surrogate} is half a surrogate pair, not a character)"
    return value, None


def utf8_detail(raw: bytes, error: UnicodeDecodeError, line_start: int = 0) -> str:
    """'byte 0xe9 at column 11': where a line stops being UTF-8, columns counted from 1 at `line_start`."""
    return f"byte 0x{raw[error.start]:02x} at column {error.start - line_start + 1}"


def lone_surrogate(line: str, value: Any) -> str | None:
    """The escape of the first lone surrogate (`\\ud800`) that parsing `line` put into `value`, or None.

    JSON allows such escapes but they are not characters: no UTF-8 file, Arrow array or database can hold
    them, so they are refused where data enters. Only lines with a surrogate escape are checked (cheap).
    """
    if not _SURROGATE_ESCAPE.search(line):
        return None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(error.object[error.start]):04x}"
    return None


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise DataError(f"cannot read Parquet ({error})", path=path.name) from None
    rows = table.to_pylist()
    return Table(path, tuple(table.column_names), [Record(i + 1, row) for i, row in enumerate(rows)])


def check_header(header: list[str], name: str) -> None:
    """A header that names a column twice is refused: which of the two would a row's value belong to?"""
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise DataError(f"column {column!r} appears twice in the header", path=name, line=1)
        seen.add(column)


def iter_suffix_candidates(directory: Path, stem: str) -> Iterator[Path]:
    """`stem.csv`, `stem.jsonl`, `stem.parquet` (and `.json`) that exist in `directory`."""
    for suffix in (*TABLE_SUFFIXES, ".json"):
        candidate = directory / f"{stem}{suffix}"
        if candidate.exists():
            yield candidate
