"""`moderate score`: its options, the checks on them, the job, its progress and the summary.

click checks the choices (formats come from `batch.formats`, the names the readers and writers are keyed by)
and refuses options the chosen engine cannot honour, before anything heavy is imported. Progress and the
summary go to stderr, so `-o -` can stream the scored rows to stdout.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from batch.formats import DUMP_FORMATS, OUTPUT_FORMATS
from model.errors import DataError, ModerationError
from model.types import Article
from moderate.console import DEFAULT_MODEL, ModelOption, console, fail

if TYPE_CHECKING:  # imported where used: the model code takes a second and more to import (see run_local)
    from concurrent.futures import ProcessPoolExecutor

    from batch.job import JobSummary
    from batch.output import SpoolOutput, StreamOutput
    from batch.scorer import Counts

#: Below this input size a job scores in this process: starting worker processes would take longer.
SMALL_INPUT_BYTES = 8 << 20
DEFAULT_CHUNK_ROWS = 20_000

InputFormat = Enum("InputFormat", {name: name for name in DUMP_FORMATS}, type=str)  # type: ignore[misc]
OutputFormat = Enum("OutputFormat", {name: name for name in OUTPUT_FORMATS}, type=str)  # type: ignore[misc]
#: Options the Dask engine cannot honour: it partitions by file size, writes a Parquet folder, never resumes.
LOCAL_ONLY_OPTIONS = ("--format", "--output-format", "--chunk-rows", "--workers", "--resume")


def score(
    input: Annotated[str, typer.Argument(help="Dump: .csv, .jsonl, .parquet, WordPress/Disqus .xml, - for stdin "
                                         "(with --format); dask: a glob.")],
    articles: Annotated[
        Path | None, typer.Option("--articles", help="Articles table (article_id, title, body): CSV, JSONL, Parquet.")
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output .csv/.jsonl/.parquet, or - for stdout. "
                                 "Default: INPUT.scored.<ext>.")
    ] = None,
    model: ModelOption = DEFAULT_MODEL,
    input_format: Annotated[
        InputFormat | None, typer.Option("--format", help="Input format if not clear from the name.")
    ] = None,
    output_format: Annotated[
        OutputFormat | None, typer.Option("--output-format", help="Default: from the output name; jsonl for stdout.")
    ] = None,
    chunk_rows: Annotated[
        int | None, typer.Option("--chunk-rows", min=1, help=f"Rows per chunk [default: {DEFAULT_CHUNK_ROWS}].")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=256, help="Scoring processes, this one included (default: one per core)."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    engine: Annotated[Literal["local", "dask"], typer.Option("--engine", help="local (this machine) or dask.")] = (
        "local"
    ),
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: start a local cluster).")
    ] = None,
) -> None:
    """Score every comment of a dump: one output row per input row, in order, with label, scores, action, error.

    Rows that cannot be scored (empty text, unknown article, undecodable bytes, a broken line) keep their place
    and say why in `error`. A summary by label, action and error ends the run.

    Example: moderate score comments.csv --articles articles.csv -o scored.parquet
    """
    given = {"--format": input_format is not None, "--output-format": output_format is not None,
             "--chunk-rows": chunk_rows is not None, "--workers": workers is not None, "--resume": resume}
    if engine == "dask":
        refused = [name for name in LOCAL_ONLY_OPTIONS if given[name]]
        if refused:
            raise typer.BadParameter(
                f"cannot honour {', '.join(refused)} (it reads CSV or Parquet globs into a Parquet folder, "
                "partitioned by size, and does not resume)", param_hint="'--engine dask'",
            )
    elif scheduler is not None:
        raise typer.BadParameter("names a Dask scheduler: use it with --engine dask", param_hint="'--scheduler'")
    try:
        if engine == "dask":
            run_dask(input, articles_path=articles, output=output, model_path=model, scheduler=scheduler,
                     console=console)
        else:
            run_local(Path(input), articles_path=articles, output=output, model_path=model,
                      input_format=input_format.value if input_format else None,
                      output_format=output_format.value if output_format else None,
                      chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS, workers=workers, resume=resume, quiet=quiet,
                      console=console)
    except (ModerationError, ValueError, OSError) as error:
        raise fail(str(error)) from None


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
    from batch.workers import start_workers

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
    from batch.job import JobOptions, score_dump
    from batch.output import SpoolOutput, StreamOutput
    from batch.output import output_format as format_of
    from batch.readers import open_dump

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

    from batch.dask_engine import require_dask, score_with_dask

    require_dask()

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
