"""CSV dumps: Arrow's streaming reader while the file is clean, a tolerant line-by-line reader after that."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from batch.readers.base import BOM, DEFAULT_CHUNK_ROWS, MALFORMED_CSV, Chunk, ChunkBuilder, Dump, Problem, utf8_problem
from model.errors import DataError
from model.tables import check_header

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


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
    check_header(header, path.name)
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
                block = block.removeprefix(BOM)
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
        self.problems.append(utf8_problem(self.line_number, raw, error))

    def problem_between(self, first: int, last: int) -> Problem | None:
        """The first decoding problem on lines first..last (and forget those up to `last`)."""
        found = None
        while self._bad_lines and self._bad_lines[0] <= last:
            line, problem = self._bad_lines.pop(0), self.problems.pop(0)
            if found is None and line >= first:
                found = problem
        return found
