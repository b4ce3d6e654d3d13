"""Write scored chunks as CSV, JSON Lines or Parquet, so that a job killed at any moment can be resumed.

A job writing to a file does not write the file directly. Each scored chunk goes to its own part file in a
spool folder beside the output (`OUTPUT.partial/part-000012.csv`; for Parquet output an Arrow IPC file,
`part-000012.arrow`), written to a temporary name and renamed
when complete; then one line is appended to `progress.jsonl` with the chunk's row count and summary counts.
A chunk counts as written only when its line is there, so a `kill -9` at any point leaves at worst one part
without its line, which the resumed job writes again. `job.json` records what the parts were made from (input,
articles, model, chunk size, format); `--resume` refuses a spool made from anything else. When every chunk is
written, the parts are joined into OUTPUT (through a temporary file and a rename) and the spool is removed.
A Parquet output is joined as the job goes (each chunk is also appended to `OUTPUT.partial/joined.tmp` once its
part is written), so the end of the job does not read every part back and encode it again while the cores
idle; a resumed job starts that file again from the parts already written.

Writing to stdout (`-o -`) streams each chunk as it is scored; there is nothing to resume then.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from batch.scorer import Counts
from model.errors import DataError
from model.tables import suffix_format

SPOOL_SUFFIX = ".partial"
_JOB_FILE = "job.json"
_PROGRESS_FILE = "progress.jsonl"
_JOINED_FILE = "joined.tmp"
_PART_SUFFIX = {"parquet": "arrow"}  # a Parquet output's parts are Arrow IPC files


def output_format(path: Path) -> str:
    """csv, jsonl or parquet from the output file's extension."""
    kind = suffix_format(path)
    if kind is not None:
        return kind
    raise DataError(f"cannot tell the output format from {path.suffix or '(no extension)'!r}; "
                    "name the file .csv, .jsonl or .parquet", path=path.name)


def write_table(table: pa.Table, sink: BinaryIO, fmt: str, *, header: bool = True) -> None:
    """Append `table` to an open binary sink as CSV (header optional) or JSON Lines."""
    if fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(include_header=header))
    elif fmt == "jsonl":
        lines = [json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()]
        if lines:
            sink.write(("\n".join(lines) + "\n").encode("utf-8"))
    else:
        raise ValueError(f"write_table cannot stream {fmt!r}")


class StreamOutput:
    """Scored chunks straight to a binary stream (stdout): CSV with one header, or JSON Lines."""

    def __init__(self, sink: BinaryIO, fmt: str) -> None:
        if fmt not in ("csv", "jsonl"):
            raise DataError(f"cannot stream {fmt} to stdout; use csv or jsonl, or write to a file")
        self.sink = sink
        self.fmt = fmt
        self._header = True

    def start(self, job: dict[str, Any], resume: bool) -> tuple[int, Counts]:
        if resume:
            raise DataError("--resume needs an output file; a stream to stdout cannot be resumed")
        return 0, Counts()

    def write(self, index: int, table: pa.Table, counts: Counts) -> None:
        write_table(table, self.sink, self.fmt, header=self._header)
        self._header = False
        self.sink.flush()

    def finish(self, schema: pa.Schema) -> None:
        if self._header and self.fmt == "csv":
            write_table(schema.empty_table(), self.sink, "csv", header=True)
        self.sink.flush()


class SpoolOutput:
    """Scored chunks as part files in OUTPUT.partial/, joined into OUTPUT at the end (see the module doc)."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.spool = path.with_name(path.name + SPOOL_SUFFIX)
        self._parts: list[Path] = []
        self._joined: Any = None  # pyarrow.parquet.ParquetWriter appending every chunk (Parquet output only)

    def start(self, job: dict[str, Any], resume: bool) -> tuple[int, Counts]:
        """Prepare the spool; with `resume`, return the first chunk still to write and the counts so far."""
        if not resume:
            if self.spool.exists():
                raise DataError(
                    f"{self.spool} holds a run that stopped part-way; continue it with --resume, "
                    "or delete that folder to start again"
                )
            self.spool.mkdir(parents=True)
            _write_json(self.spool / _JOB_FILE, job)
            return 0, Counts()
        if not self.spool.is_dir():
            raise DataError(f"nothing to resume: {self.spool} does not exist"
                            + (f" ({self.path} looks complete)" if self.path.exists() else ""))
        recorded = _read_json(self.spool / _JOB_FILE)
        if recorded != job:
            changed = sorted(k for k in set(job) | set(recorded) if job.get(k) != recorded.get(k))
            raise DataError(
                f"cannot resume {self.spool}: it was written with a different {', '.join(changed)}; "
                "run without --resume after deleting it"
            )
        counts = Counts()
        done = 0
        for entry in self._progress():
            if entry.get("chunk") != done or not self._part(done).exists():
                break
            counts.add(Counts.from_dict(entry))
            self._parts.append(self._part(done))
            done += 1
        for stray in self.spool.glob("part-*"):
            if stray not in self._parts:
                stray.unlink()
        self._rewrite_progress(done)
        return done, counts

    def write(self, index: int, table: pa.Table, counts: Counts) -> None:
        part = self._part(index)
        temporary = part.with_name(part.name + ".tmp")
        if self.fmt == "parquet":
            # Parts are only read back by a resumed job: Arrow's own file format, which is a copy of the table's
            # buffers, where a Parquet part was encoded like the joined output (0.6 s of CPU per million rows).
            with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        else:
            with temporary.open("wb") as sink:
                write_table(table, sink, self.fmt, header=index == 0)
        os.replace(temporary, part)
        with (self.spool / _PROGRESS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"chunk": index, **counts.to_dict()}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if self.fmt == "parquet":
            if self._joined is None:
                self._joined = self._join_parts(table.schema)
            self._joined.write_table(table)
        self._parts.append(part)

    def finish(self, schema: pa.Schema) -> None:
        """Join the parts into the output file (atomically) and remove the spool."""
        if self.fmt == "parquet":
            joined = self._joined if self._joined is not None else self._join_parts(schema)
            joined.close()
            os.replace(self.spool / _JOINED_FILE, self.path)
        else:
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            with temporary.open("wb") as sink:
                if not self._parts and self.fmt == "csv":
                    write_table(schema.empty_table(), sink, "csv", header=True)
                for part in self._parts:
                    with part.open("rb") as source:
                        shutil.copyfileobj(source, sink, 1 << 22)
            os.replace(temporary, self.path)
        shutil.rmtree(self.spool)

    def _join_parts(self, schema: pa.Schema) -> Any:
        """A Parquet writer for the joined output, holding the parts written so far (by an earlier run)."""
        import pyarrow.parquet as pq

        # A new file, not the old one truncated: a writer left open by an interrupted job in this process must
        # not be able to write into the file this one renames to the output.
        (self.spool / _JOINED_FILE).unlink(missing_ok=True)
        writer = pq.ParquetWriter(self.spool / _JOINED_FILE, schema)
        for part in self._parts:
            with pa.memory_map(str(part)) as source:
                writer.write_table(pa.ipc.open_file(source).read_all().cast(schema))
        return writer

    def _part(self, index: int) -> Path:
        return self.spool / f"part-{index:06d}.{_PART_SUFFIX.get(self.fmt, self.fmt)}"

    def _progress(self) -> Iterator[dict[str, Any]]:
        path = self.spool / _PROGRESS_FILE
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: everything after it is redone
                return

    def _rewrite_progress(self, done: int) -> None:
        entries = [e for e in self._progress()][:done]
        text = "".join(json.dumps(e) + "\n" for e in entries)
        temporary = self.spool / (_PROGRESS_FILE + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.spool / _PROGRESS_FILE)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"cannot resume: {path} is unreadable ({error}); delete the folder and start again") from None
    return data if isinstance(data, dict) else {}
