"""Read comment dumps of any size in chunks, without ever losing or reordering a row.

    open_dump(path)            CSV, JSON Lines, Parquet (by extension), WordPress WXR or Disqus XML (by content)
    dump.columns               the input columns, known before the first chunk
    dump.chunks(chunk_rows)    Chunks of exactly `chunk_rows` rows (the last one shorter), in input order

A row the reader cannot read is still a row: it keeps its place, whatever fields could be salvaged, and a
`Problem` naming the line ("line 17: invalid UTF-8 (byte 0xff at column 3)", "line 9: expected 5 fields, found
7", "line 4: invalid JSON (...)"). Only problems with the file as a whole (missing, unreadable, no header, no
`text` or `article_id` column) raise a DataError.

CSV is read by Arrow's streaming reader (C++, fast) while the file is clean. The first line it cannot read
makes the reader switch to a tolerant Python reader that decodes and parses line by line; it skips the rows
already delivered, so the switch is invisible to the caller except for speed. Chunk boundaries depend only on
`chunk_rows`, never on the reader, so a resumed job sees the same chunks as an uninterrupted one.
Blank lines are not rows (as in `model.tables`); every other record is.

Memory is bounded by the chunk size (and, for XML, by the articles: see `batch.readers.xml_base`).

This module holds what every reader shares (the Dump interface, chunking, Problems); each format has a
module of its own, and `batch.readers.open_dump` picks one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from model.errors import DataError
from model.tables import utf8_detail
from model.types import Article

#: Columns a table dump must have; `comment_id` and `parent_id` are optional (no parents without them).
REQUIRED_COLUMNS: tuple[str, ...] = ("text", "article_id")
OPTIONAL_COLUMNS: tuple[str, ...] = ("comment_id", "parent_id")

DEFAULT_CHUNK_ROWS = 20_000

# Problem kinds a reader reports (the summary counts rows by kind).
INVALID_UTF8 = "invalid UTF-8"
MALFORMED_CSV = "malformed CSV row"
INVALID_JSON = "invalid JSON"
MALFORMED_XML = "malformed XML"

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, allowed at the start of a text dump


@dataclass(frozen=True)
class Problem:
    """Why one row was not scored: `kind` groups rows in the summary, `message` goes into the `error` column."""

    kind: str
    message: str


@dataclass
class Chunk:
    """Consecutive rows of a dump: the input columns as read, and a Problem for each row that could not be."""

    index: int
    first_row: int
    table: pa.Table
    problems: list[Problem | None]
    articles: dict[str, Article] = field(default_factory=dict)
    position: float | None = None  # share of the input read so far, when the reader knows it

    def __len__(self) -> int:
        return self.table.num_rows


class Dump:
    """A comment dump opened for reading; subclasses know one format."""

    format: str = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this input for `--resume` (path, size, modification time, format)."""
        stat = self.path.stat()
        return {"path": str(self.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "format": self.format}

    def _check_columns(self, unit_line: int | None) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.columns]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(repr(c) for c in missing)}; a dump needs "
                f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)}); "
                f"found: {', '.join(self.columns) or 'none'}",
                path=self.name, line=unit_line,
            )


# -- chunking ---------------------------------------------------------------------------------------------
class ChunkBuilder:
    """Collects rows (as tables or as lists of values) and hands out Chunks of exactly `chunk_rows` rows."""

    def __init__(self, columns: Sequence[str], chunk_rows: int, schema: pa.Schema | None = None) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.columns = tuple(columns)
        self.schema = schema or pa.schema([(c, pa.string()) for c in self.columns])
        self.chunk_rows = chunk_rows
        self.delivered = 0  # rows handed out in chunks so far
        self._index = 0
        self._tables: list[pa.Table] = []
        self._problems: list[Problem | None] = []
        self._rows: list[list[Any]] = []
        self._row_articles: list[Article | None] = []
        self._pending = 0

    def add_table(self, table: pa.Table, position: float | None = None) -> Iterator[Chunk]:
        self._flush_rows()
        self._tables.append(table)
        self._problems.extend([None] * table.num_rows)
        self._row_articles.extend([None] * table.num_rows)
        self._pending += table.num_rows
        yield from self._full(position)

    def add_row(
        self, values: list[Any], problem: Problem | None, position: float | None = None, article: Article | None = None
    ) -> Iterator[Chunk]:
        """Add one row; `article` is the article the dump itself gives for it (XML exports), if any."""
        self._rows.append(values)
        self._problems.append(problem)
        self._row_articles.append(article)
        self._pending += 1
        if self._pending >= self.chunk_rows:
            yield from self._full(position)

    def discard_pending(self) -> None:
        """Forget rows not yet handed out (a reader that restarts will deliver them again)."""
        self._tables, self._rows, self._problems, self._row_articles, self._pending = [], [], [], [], 0

    def finish(self, position: float | None = None) -> Iterator[Chunk]:
        if self._pending:
            yield self._emit(self._pending, position)

    def _full(self, position: float | None) -> Iterator[Chunk]:
        while self._pending >= self.chunk_rows:
            yield self._emit(self.chunk_rows, position)

    def _flush_rows(self) -> None:
        if self._rows:
            arrays = [
                pa.array([row[j] for row in self._rows], type=self.schema.field(j).type)
                for j in range(len(self.columns))
            ]
            self._tables.append(pa.Table.from_arrays(arrays, schema=self.schema))
            self._rows = []

    def _emit(self, n: int, position: float | None) -> Chunk:
        self._flush_rows()
        table = pa.concat_tables(self._tables) if len(self._tables) != 1 else self._tables[0]
        head, rest = table.slice(0, n), table.slice(n)
        self._tables = [rest] if rest.num_rows else []
        problems, self._problems = self._problems[:n], self._problems[n:]
        row_articles, self._row_articles = self._row_articles[:n], self._row_articles[n:]
        articles = {a.id: a for a in row_articles if a is not None}
        self._pending -= n
        chunk = Chunk(self._index, self.delivered, head.combine_chunks(), problems, articles, position)
        self._index += 1
        self.delivered += n
        return chunk


def utf8_problem(line: int, raw: bytes, error: UnicodeDecodeError) -> Problem:
    """The row's Problem for a line that is not UTF-8 (the wording is `model.tables`')."""
    return Problem(INVALID_UTF8, f"line {line}: invalid UTF-8 ({utf8_detail(raw, error)})")


# -- text columns for scoring -----------------------------------------------------------------------------
def text_column(table: pa.Table, name: str, problems: list[Problem | None]) -> pa.Array | None:
    """Column `name` as strings (None if the table lacks it); values that are not UTF-8 get a Problem.

    CSV, JSONL and XML columns are text already; this is for Parquet columns of other types (numbers as ids,
    binary text).
    """
    if name not in table.column_names:
        return None
    column = table.column(name)
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(column.type):
        return column
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values: list[str | None] = []
    for i, value in enumerate(column.to_pylist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                if problems[i] is None:
                    problems[i] = Problem(INVALID_UTF8, f"{INVALID_UTF8} in column {name!r}")
                value = value.decode("utf-8", errors="replace")
        values.append(None if value is None else str(value))
    return pa.array(values, type=pa.string())
