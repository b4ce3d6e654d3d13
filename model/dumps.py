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

Memory is bounded by the chunk size (and, for XML, by the articles: see `model.xml_dumps`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from model.errors import DataError
from model.tables import lone_surrogate, suffix_format
from model.types import Article

#: Formats `open_dump` reads; XML files are told apart by their content.
DUMP_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet", "wxr", "disqus")
#: Columns a table dump must have; `comment_id` and `parent_id` are optional (no parents without them).
REQUIRED_COLUMNS: tuple[str, ...] = ("text", "article_id")
OPTIONAL_COLUMNS: tuple[str, ...] = ("comment_id", "parent_id")

DEFAULT_CHUNK_ROWS = 20_000

# Problem kinds a reader reports (the summary counts rows by kind).
INVALID_UTF8 = "invalid UTF-8"
MALFORMED_CSV = "malformed CSV row"
INVALID_JSON = "invalid JSON"
MALFORMED_XML = "malformed XML"

_BOM = b"\xef\xbb\xbf"
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


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


def dump_format(path: Path) -> str:
    """csv, jsonl or parquet from the extension; for .xml, wxr or disqus from the first kilobytes."""
    kind = suffix_format(path)
    if kind is not None:
        return kind
    if path.suffix.lower() == ".xml":
        from model.xml_dumps import sniff_xml

        return sniff_xml(path)
    raise DataError(
        f"unsupported file type {path.suffix or '(none)'!r}; use .csv, .jsonl, .parquet, or a WordPress/Disqus "
        ".xml export (or name the format with --format)", path=path.name,
    )


def open_dump(path: str | Path, format: str | None = None) -> Dump:
    """Open a dump for chunked reading; DataError if the file is missing or unusable as a whole."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    kind = format or dump_format(path)
    if kind == "csv":
        return CsvDump(path)
    if kind == "jsonl":
        return JsonlDump(path)
    if kind == "parquet":
        return ParquetDump(path)
    if kind in ("wxr", "disqus"):
        from model.xml_dumps import DisqusDump, WxrDump

        return WxrDump(path) if kind == "wxr" else DisqusDump(path)
    raise DataError(f"unknown format {kind!r}; use one of {', '.join(DUMP_FORMATS)}", path=path.name)


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


# -- CSV --------------------------------------------------------------------------------------------------
class _ArrowGaveUp(Exception):
    """Arrow's reader met something only the tolerant reader can handle (a broken line, bad UTF-8)."""


class CsvDump(Dump):
    """A CSV file with a header line; every column is read as text."""

    format = "csv"

    def __init__(self, path: Path, *, block_size: int = 1 << 22) -> None:
        super().__init__(path)
        self.block_size = block_size  # bytes Arrow parses at a time
        self.columns = tuple(_csv_header(path))
        self._check_columns(1)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        builder = ChunkBuilder(self.columns, chunk_rows)
        try:
            for table, position in self._arrow_tables():
                yield from builder.add_table(table, position)
        except _ArrowGaveUp:
            builder.discard_pending()
            for values, problem, position in self._python_rows(skip=builder.delivered):
                yield from builder.add_row(values, problem, position)
        yield from builder.finish(1.0)

    def _arrow_tables(self) -> Iterator[tuple[pa.Table, float]]:
        import pyarrow.csv as pcsv

        size = max(self.path.stat().st_size, 1)
        schema = pa.schema([(c, pa.string()) for c in self.columns])
        with self.path.open("rb") as handle:
            try:
                reader = pcsv.open_csv(
                    handle,
                    # One thread: a job already runs a scoring process per core, and reader threads only
                    # took CPU from them (about 1 s of CPU and 0.5 s of wall time per million rows).
                    read_options=pcsv.ReadOptions(block_size=self.block_size, use_threads=False),
                    # No invalid_row_handler: Arrow's default already stops at a bad row, and a handler makes Arrow
                    # decode the row first, which prints an ignored UnicodeDecodeError when the row is not UTF-8.
                    parse_options=pcsv.ParseOptions(newlines_in_values=True),
                    convert_options=pcsv.ConvertOptions(
                        column_types={c: pa.string() for c in self.columns}, strings_can_be_null=False
                    ),
                )
                if tuple(reader.schema.names) != self.columns:
                    raise _ArrowGaveUp
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        return
                    yield pa.Table.from_batches([batch], schema=schema), min(handle.tell() / size, 1.0)
            except (pa.ArrowInvalid, pa.ArrowException, _ArrowGaveUp) as error:
                raise _ArrowGaveUp from error

    def _python_rows(self, skip: int) -> Iterator[tuple[list[str | None], Problem | None, float]]:
        """Every record after the first `skip`, with a Problem for undecodable bytes or a wrong field count."""
        size = max(self.path.stat().st_size, 1)
        width = len(self.columns)
        with self.path.open("rb") as handle:
            lines = _DecodedLines(handle)
            reader = csv.reader(lines)
            next(reader, None)  # the header, already read
            seen = 0
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    # The csv module resumes at the next line after an error, so the rows after survive.
                    seen += 1
                    if seen > skip:
                        broken = Problem(MALFORMED_CSV, f"line {start}: malformed CSV ({error})")
                        yield [None] * width, broken, min(handle.tell() / size, 1.0)
                    continue
                if not row or all(not cell.strip() for cell in row):
                    continue
                seen += 1
                if seen <= skip:
                    continue
                problem = lines.problem_between(start, reader.line_num)
                if problem is None and len(row) != width:
                    problem = Problem(MALFORMED_CSV, f"line {start}: expected {width} fields, found {len(row)}")
                values: list[str | None] = list(row[:width]) + [None] * (width - len(row))
                yield values, problem, min(handle.tell() / size, 1.0)


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        lines = _DecodedLines(handle)
        try:
            header = next(csv.reader(lines), None)
        except csv.Error as error:
            raise DataError(f"malformed CSV header ({error})", path=path.name, line=1) from None
        if lines.problems:
            raise DataError(f"the header is not valid UTF-8 ({lines.problems[0].message})", path=path.name, line=1)
    if not header or all(not h.strip() for h in header):
        raise DataError("the file is empty; expected a header line", path=path.name, line=1)
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise DataError(f"column {column!r} appears twice in the header", path=path.name, line=1)
        seen.add(column)
    return header


class _DecodedLines:
    """Lines of a binary file as text, block by block; a line that is not UTF-8 is decoded with U+FFFD and noted.

    Lines end at \\n, \\r\\n or \\r, as `open(newline="")` reads them (what the csv module expects).
    """

    def __init__(self, handle: BinaryIO, block_size: int = 1 << 22) -> None:
        self.handle = handle
        self.block_size = block_size
        self.line_number = 0
        self.problems: list[Problem] = []
        self._bad_lines: list[int] = []

    def __iter__(self) -> Iterator[str]:
        carry = b""
        first = True
        while True:
            block = self.handle.read(self.block_size)
            if not block:
                if carry:
                    yield from self._decode(carry)
                return
            block = carry + block
            if first:
                block = block.removeprefix(_BOM)
                first = False
            cut = max(block.rfind(b"\n"), block.rfind(b"\r", 0, len(block) - 1)) + 1
            if cut == 0:
                carry = block
                continue
            carry, block = block[cut:], block[:cut]
            yield from self._decode(block)

    def _decode(self, block: bytes) -> Iterator[str]:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            for match in _LINE.finditer(block):
                self.line_number += 1
                raw = match.group()
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    self._note(raw, error)
                    yield raw.decode("utf-8", errors="replace")
            return
        for line in io.StringIO(text, newline=""):
            self.line_number += 1
            yield line

    def _note(self, raw: bytes, error: UnicodeDecodeError) -> None:
        self._bad_lines.append(self.line_number)
        self.problems.append(_utf8_problem(self.line_number, raw, error))

    def problem_between(self, first: int, last: int) -> Problem | None:
        """The first decoding problem on lines first..last (and forget those up to `last`)."""
        found = None
        while self._bad_lines and self._bad_lines[0] <= last:
            line, problem = self._bad_lines.pop(0), self.problems.pop(0)
            if found is None and line >= first:
                found = problem
        return found


def _utf8_problem(line: int, raw: bytes, error: UnicodeDecodeError) -> Problem:
    detail = f"byte 0x{raw[error.start]:02x} at column {error.start + 1}"
    return Problem(INVALID_UTF8, f"line {line}: invalid UTF-8 ({detail})")


# -- JSON Lines -------------------------------------------------------------------------------------------
class JsonlDump(Dump):
    """One JSON object per line. Columns are the keys in order of first appearance (one quick pass first).

    Values are kept as text: strings as they are, numbers and booleans as their JSON spelling, objects and
    arrays as JSON, null as missing.
    """

    format = "jsonl"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.columns = self._scan_keys()
        self._check_columns(None)

    def _scan_keys(self) -> tuple[str, ...]:
        keys: dict[str, None] = {}
        with self.path.open("rb") as handle:
            for _, value, _ in _json_lines(handle):
                if isinstance(value, dict):
                    keys.update(dict.fromkeys(value))
        return tuple(keys)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        builder = ChunkBuilder(self.columns, chunk_rows)
        size = max(self.path.stat().st_size, 1)
        width = len(self.columns)
        with self.path.open("rb") as handle:
            for line, value, problem in _json_lines(handle):
                if problem is not None:
                    yield from builder.add_row([None] * width, problem, handle.tell() / size)
                elif not isinstance(value, dict):
                    problem = Problem(INVALID_JSON, f"line {line}: expected a JSON object, found {_json_type(value)}")
                    yield from builder.add_row([None] * width, problem, handle.tell() / size)
                else:
                    yield from builder.add_row([_as_text(value.get(c)) for c in self.columns], None,
                                               handle.tell() / size)
        yield from builder.finish(1.0)


def _json_lines(handle: BinaryIO) -> Iterator[tuple[int, Any, Problem | None]]:
    """(line number, parsed value or None, problem or None) for every non-blank line."""
    for number, raw in enumerate(handle, start=1):
        if number == 1:
            raw = raw.removeprefix(_BOM)
        if not raw.strip():
            continue
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, None, _utf8_problem(number, raw, error)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            message = f"line {number}: invalid JSON ({error.msg} at column {error.colno})"
            yield number, None, Problem(INVALID_JSON, message)
            continue
        except RecursionError:
            yield number, None, Problem(INVALID_JSON, f"line {number}: invalid JSON (nested too deeply)")
            continue
        except ValueError as error:  # e.g. an integer longer than Python converts (4,300 digits)
            yield number, None, Problem(INVALID_JSON, f"line {number}: invalid JSON ({error})")
            continue
        surrogate = lone_surrogate(text, value)
        if surrogate is not None:  # valid JSON, but not text that UTF-8 output can hold
            message = f"line {number}: invalid JSON (the escape {surrogate} is half a surrogate pair, not a character)"
            yield number, None, Problem(INVALID_JSON, message)
            continue
        yield number, value, None


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# -- Parquet ----------------------------------------------------------------------------------------------
class ParquetDump(Dump):
    """A Parquet file, read a batch at a time; columns keep their types (text columns are cast when scored)."""

    format = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise DataError(f"cannot read Parquet ({error})", path=path.name) from None
        self.schema = self._file.schema_arrow
        self.columns = tuple(self.schema.names)
        self._check_columns(None)

    @property
    def num_rows(self) -> int:
        return int(self._file.metadata.num_rows)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        builder = ChunkBuilder(self.columns, chunk_rows, schema=self.schema)
        total = max(self.num_rows, 1)
        read = 0
        try:
            for batch in self._file.iter_batches(batch_size=chunk_rows):
                read += batch.num_rows
                yield from builder.add_table(pa.Table.from_batches([batch], schema=self.schema), read / total)
        except (OSError, pa.ArrowException) as error:
            raise DataError(f"cannot read Parquet after row {read} ({error})", path=self.name) from None
        yield from builder.finish(1.0)


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
