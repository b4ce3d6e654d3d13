"""The `moderate score` command's work: check the arguments, run the job, show progress and the summary.

Kept beside `training/cli.py` (which only declares the command) so the command line stays one screen long.
Progress and the summary go to stderr, so `-o -` can stream the scored rows to stdout.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from model.errors import DataError
from model.types import Article

if TYPE_CHECKING:  # imported where used: the model code takes a second and more to import (see run_local)
    from concurrent.futures import ProcessPoolExecutor

    from model.score_job import JobSummary
    from model.score_output import SpoolOutput, StreamOutput
    from model.scoring import Counts

#: Below this input size a job scores in this process: starting worker processes would take longer.
SMALL_INPUT_BYTES = 8 << 20


def load_articles(path: Path | None) -> tuple[dict[str, Article], dict[str, Any] | None]:
    """Articles from a CSV/JSONL/Parquet table (validated like training data), and what identifies the file."""
    if path is None:
        return {}, None
    from model.tables import read_table
    from training.data import validate_articles

    frame = validate_articles(read_table(path))
    articles = {
        row.article_id: Article(id=row.article_id, title=row.title, body=row.body)
        for row in frame.itertuples(index=False)
    }
    stat = path.stat()
    return articles, {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def default_workers(input_path: Path | None) -> int:
    """One worker per usable core, or none (score in this process) for a small input."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if input_path is not None and input_path.is_file() and input_path.stat().st_size < SMALL_INPUT_BYTES:
        return 1
    return max(cores, 1)


def run_local(
    input_path: Path, *, articles_path: Path | None, output: str | None, model_path: Path, input_format: str | None,
    output_format: str | None, chunk_rows: int, workers: int | None, resume: bool, quiet: bool, console: Console,
) -> Counts:
    """Score one dump with this machine's cores; returns the counts of the whole output.

    `-` reads the dump from stdin (name its format with --format): it is copied to a temporary file first,
    because the readers need to read a file more than once (a header, a switch to the tolerant reader).
    """
    if str(input_path) == "-":
        with stdin_copy(input_format, resume) as copied:
            return run_local(copied, articles_path=articles_path, output=output or "-", model_path=model_path,
                             input_format=input_format, output_format=output_format, chunk_rows=chunk_rows,
                             workers=workers, resume=False, quiet=quiet, console=console)
    from model.score_workers import start_workers

    workers = workers or default_workers(input_path)
    # Worker processes first: their start-up (imports, model loading) then runs beside this process's own.
    pool = start_workers(model_path, workers - 1) if workers > 1 and input_path.is_file() else None
    finished = False
    try:
        summary, target = _score_file(input_path, articles_path=articles_path, output=output, model_path=model_path,
                                      input_format=input_format, output_format=output_format, chunk_rows=chunk_rows,
                                      workers=workers, resume=resume, quiet=quiet, console=console, pool=pool)
        finished = True
    finally:
        if pool is not None:  # after a failure, do not wait for workers that may still be starting
            pool.shutdown(wait=finished, cancel_futures=True)
    where = "stdout" if output == "-" else str(target.path)  # type: ignore[union-attr]
    print_summary(console, summary.counts, seconds=summary.seconds, rows_this_run=summary.rows_this_run,
                  resumed=summary.resumed_rows, where=where)
    return summary.counts


def _score_file(
    input_path: Path, *, articles_path: Path | None, output: str | None, model_path: Path, input_format: str | None,
    output_format: str | None, chunk_rows: int, workers: int, resume: bool, quiet: bool, console: Console,
    pool: ProcessPoolExecutor | None,
) -> tuple[JobSummary, SpoolOutput | StreamOutput]:
    from model.dumps import open_dump
    from model.score_job import JobOptions, score_dump
    from model.score_output import SpoolOutput, StreamOutput
    from model.score_output import output_format as format_of

    dump = open_dump(input_path, input_format)
    articles, fingerprint = load_articles(articles_path)
    target: StreamOutput | SpoolOutput
    if output == "-":
        target = StreamOutput(sys.stdout.buffer, output_format or "jsonl")
    else:
        path = Path(output) if output else default_output(input_path, dump.format)
        target = SpoolOutput(path, output_format or format_of(path))
    options = JobOptions(chunk_rows=chunk_rows, workers=workers, resume=resume)
    show = not quiet and console.is_terminal
    with progress_bar(console, show) as update:
        try:
            summary = score_dump(
                dump, target, model_path=model_path, articles=articles, articles_fingerprint=fingerprint,
                options=options, progress=update, pool=pool,
            )
        except OSError as error:
            raise output_error(error, target) from error
    return summary, target


def run_dask(
    pattern: str, *, articles_path: Path | None, output: str | None, model_path: Path, scheduler: str | None,
    console: Console,
) -> Counts:
    """Score a CSV/Parquet glob on a Dask cluster into a Parquet folder."""
    import time

    from model.dask_scoring import score_with_dask

    if not output or output == "-":
        raise DataError("--engine dask writes a Parquet folder: give it with -o FOLDER")
    articles, _ = load_articles(articles_path)
    started = time.perf_counter()
    counts = score_with_dask(pattern, Path(output), model_path=model_path, articles=articles, scheduler=scheduler)
    seconds = time.perf_counter() - started
    print_summary(console, counts, seconds=seconds, rows_this_run=counts.rows, resumed=0, where=output)
    return counts


def output_error(error: OSError, target: Any) -> OSError:
    """The same error with a message that says what could not be written and what to do next.

    A full disk or a folder without write permission is the usual cause; what was written is kept in the spool
    (OUTPUT.partial), so after fixing it the same command with --resume continues where the job stopped.
    """
    spool = getattr(target, "spool", None)
    if spool is None:  # stdout: nothing to resume
        return error
    where = error.filename or spool
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = (f"free some space, then run the same command with --resume to continue from what {spool} "
                  "already holds")
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR):
        advice = "choose an output (-o) in a folder you can write to"
    else:
        return error
    clear = OSError(f"cannot write {where}: {reason}; {advice}")
    clear.errno = error.errno
    return clear


@contextmanager
def stdin_copy(input_format: str | None, resume: bool) -> Iterator[Path]:
    """stdin in a temporary file (removed afterwards), named so that its format is known."""
    import shutil
    import tempfile

    if input_format is None:
        raise DataError("reading a dump from stdin (-) needs its format: --format csv, jsonl, parquet, wxr or disqus")
    if resume:
        raise DataError("--resume needs the same input file again; a dump read from stdin cannot be resumed")
    suffix = {"wxr": ".xml", "disqus": ".xml"}.get(input_format, f".{input_format}")
    with tempfile.TemporaryDirectory(prefix="moderate-stdin-") as folder:
        path = Path(folder) / f"stdin{suffix}"
        with path.open("wb") as sink:
            shutil.copyfileobj(sys.stdin.buffer, sink, 1 << 22)
        yield path


def default_output(input_path: Path, fmt: str) -> Path:
    """`comments.csv` -> `comments.scored.csv`; XML exports are written as CSV."""
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}.get(fmt, ".csv")
    return input_path.with_name(f"{input_path.stem}.scored{suffix}")


@contextmanager
def progress_bar(console: Console, show: bool) -> Iterator[Any]:
    """A callback (rows done, share of the input read) that drives a rich progress bar, or does nothing."""
    if not show:
        yield None
        return
    columns = (
        TextColumn("scoring"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=1.0, rows=0, rate=0.0)

        def update(rows: int, position: float | None) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = rows / elapsed if elapsed > 0 else 0.0
            bar.update(task, completed=position if position is not None else 0.0, rows=rows, rate=rate)

        yield update


def print_summary(
    console: Console, counts: Counts, *, seconds: float, rows_this_run: int, resumed: int, where: str
) -> None:
    """Rows by label, action and error, then where the output went and how fast it was written."""
    console.print(f"{counts.rows:,} rows scored into {where}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("rows by")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    _section(table, "label", counts.labels, counts.rows)
    _section(table, "action", counts.actions, counts.rows)
    _section(table, "error", counts.errors, counts.rows)
    console.print(table)
    rate = rows_this_run / seconds if seconds > 0 else 0.0
    line = f"{rows_this_run:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)"
    if resumed:
        line += f"; {resumed:,} rows were already written by the interrupted run"
    if counts.parents_not_found:
        line += f"; {counts.parents_not_found:,} replies scored without their parent (not found)"
    console.print(line, highlight=False, soft_wrap=True)


def _section(table: Table, name: str, counter: Mapping[str, int], total: int) -> None:
    if not counter:
        table.add_row(f"{name}: none", "0", "")
        return
    for key, value in sorted(counter.items(), key=lambda item: -item[1]):
        share = f"{value / total:.1%}" if total else ""
        table.add_row(f"{name}: {key}", f"{value:,}", share)
