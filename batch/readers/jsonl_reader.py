"""JSON Lines dumps: one object per line; a line that is not one is still a row, with its reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from batch.readers.base import BOM, DEFAULT_CHUNK_ROWS, INVALID_JSON, Chunk, ChunkBuilder, Dump, Problem, utf8_problem
from model.tables import parse_json_line


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
            raw = raw.removeprefix(BOM)
        if not raw.strip():
            continue
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, None, utf8_problem(number, raw, error)
            continue
        value, reason = parse_json_line(text)
        if reason is not None:
            yield number, None, Problem(INVALID_JSON, f"line {number}: {reason}")
            continue
        yield number, value, None


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
