"""Run a batch-scoring job: read a dump twice in chunks, score them on every core, write them in order.

A comment's context is set by the whole input, never by how the job cuts it (chunk size, workers, the order of
the rows, the engine): its thread is every other scorable comment of its article in the dump (`batch.threads`),
and its parent is found wherever the dump holds it (`batch.parents`). So the job reads the dump twice:

    first pass   reader -> chunks -> their share of each thread (every scoring process) -> all threads (here)
    second pass  reader -> chunks, their threads, parent texts -> scores (every scoring process) -> writer

With `workers` = N, N processes do the work of each pass: N - 1 worker processes (`batch.workers`), and this
process, which also reads and writes and takes a chunk itself whenever every worker already has two waiting (on
two cores: one worker, and this process doing about half the chunks; a third process would only add its
start-up and the copying of chunks across process boundaries). Results are used in input order whatever order
they finish in, so the threads are added up in the same order every time, and rows are written in input order.

Memory is bounded by the chunks in flight (at most two per scoring process), the threads (one sparse sum per
article) and the texts of parents that sit in another chunk than one of their replies: it grows with articles
and such parents, not with the comments.

Resuming (`resume=True`) skips the chunks already written (see `batch.output`): the first pass reads the whole
dump again (every chunk counts in the threads), and the second reads the chunks already written without scoring
them, only to keep the parent texts later chunks need, so a resumed job writes the same bytes as an
uninterrupted one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from batch.parents import CrossChunkParents
from batch.readers.base import DEFAULT_CHUNK_ROWS, Chunk, Dump, text_column
from batch.scorer import (
    SCORE_COLUMNS,
    SCORE_SCHEMA,
    ChunkScorer,
    CommentBatch,
    Counts,
    ScoredBatch,
    score_safely,
    thread_part_safely,
)
from batch.threads import ArticleThreads, ThreadSumsBuilder
from batch.workers import keep_freed_memory, one_blas_thread, start_workers
from batch.workers import score as score_in_worker
from batch.workers import thread_part as thread_part_in_worker
from model.bundle import ModelBundle
from model.types import Article

#: What a comment's context is; recorded in the spool, so that a job never resumes one made under another.
CONTEXT = "thread and parent from the whole input"
#: How scores are computed and parts written; recorded likewise, so that an output never mixes parts written
#: by two versions (the scores' last bits, the parts' format). Change it when either changes.
SPOOL_VERSION = "5: whole thread sums, Arrow IPC parts for Parquet"

#: Share of the progress bar given to the first pass (about a quarter of the work).
FIRST_PASS_SHARE = 0.25

Progress = Callable[[int, float | None], None]
Result = TypeVar("Result")


class Output(Protocol):
    def start(self, job: dict[str, Any], resume: bool) -> tuple[int, Counts]: ...
    def write(self, index: int, table: pa.Table, counts: Counts) -> None: ...
    def finish(self, schema: pa.Schema) -> None: ...


@dataclass
class JobOptions:
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = 1
    resume: bool = False


@dataclass
class JobSummary:
    """What the job did: counts over every row of the output (including rows written by an earlier run)."""

    counts: Counts
    seconds: float
    rows_this_run: int
    resumed_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0


def output_schema(input_schema: pa.Schema) -> pa.Schema:
    """Every input column (renamed `input_<name>` where it would collide with a score column), then the scores."""
    fields = [
        field.with_name(f"input_{field.name}") if field.name in SCORE_COLUMNS else field for field in input_schema
    ]
    return pa.schema([*fields, *SCORE_SCHEMA])


def score_dump(
    dump: Dump,
    output: Output,
    *,
    model_path: Path,
    bundle: ModelBundle | None = None,
    articles: Mapping[str, Article] | None = None,
    articles_fingerprint: dict[str, Any] | None = None,
    options: JobOptions | None = None,
    progress: Progress | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> JobSummary:
    """Score every row of `dump` into `output`; see the module docstring for order, memory and resuming.

    With `options.workers` > 1, `pool` may bring the workers already started (`batch.workers`; the
    caller shuts it down); otherwise they are started here.
    """
    options = options or JobOptions()
    started = time.perf_counter()
    bundle = bundle or ModelBundle.load(model_path)
    schema = output_schema(dump_schema(dump))
    job = {
        "input": dump.fingerprint(),
        "articles": articles_fingerprint,
        "model": {"version": bundle.version, "sha256": bundle.metadata.get("model_sha256")},
        "chunk_rows": options.chunk_rows,
        "context": CONTEXT,
        "spool": SPOOL_VERSION,
        "columns": list(schema.names),
    }
    first_chunk, counts = output.start(job, options.resume)
    resumed_rows = counts.rows
    preparer = BatchPreparer(articles or {})
    scorer = ChunkScorer(bundle)
    parents = CrossChunkParents()
    sums = ThreadSumsBuilder(scorer.width)
    rows_this_run = 0

    def report(position: float | None, start: float, share: float) -> None:
        if progress is not None:
            progress(counts.rows, None if position is None else start + share * position)

    def add(chunk: Chunk, part: ArticleThreads) -> None:
        sums.add(part)
        report(chunk.position, 0.0, FIRST_PASS_SHARE)

    def write(chunk: Chunk, scored: ScoredBatch) -> None:
        nonlocal rows_this_run
        output.write(chunk.index, _joined(chunk.table, scored.table, schema), scored.counts)
        counts.add(scored.counts)
        rows_this_run += len(chunk)
        report(chunk.position, FIRST_PASS_SHARE, 1.0 - FIRST_PASS_SHARE)

    keep_freed_memory()
    one_blas_thread()
    with _scratch_folder() as scratch, _scoring_processes(model_path, options.workers, pool) as workers:
        run = partial(_in_order, pool=workers, workers=options.workers - 1)

        def terms_of(chunk: Chunk) -> Path | None:
            """Where the first pass leaves a chunk's texts and term counts for the second (`batch.terms_file`)."""
            return scratch / f"terms-{chunk.index:06d}.npz" if chunk.index >= first_chunk else None

        first_pass = ((chunk, preparer.first_pass(chunk, parents, terms_of(chunk)))
                      for chunk in dump.chunks(options.chunk_rows))
        run(first_pass, partial(thread_part_safely, scorer), thread_part_in_worker, add)
        threads = sums.result()
        second_pass = (
            (chunk, preparer.second_pass(chunk, parents, threads, terms_of(chunk)))
            for chunk in dump.chunks(options.chunk_rows)
        )
        run(((c, b) for c, b in second_pass if c.index >= first_chunk), partial(score_safely, scorer),
            score_in_worker, write)
    output.finish(schema)
    extra = {"articles": len(threads.article_ids), "passes": 2}
    return JobSummary(counts, time.perf_counter() - started, rows_this_run, resumed_rows, extra)


def dump_schema(dump: Dump) -> pa.Schema:
    schema = getattr(dump, "schema", None)
    if isinstance(schema, pa.Schema):
        return schema
    return pa.schema([(c, pa.string()) for c in dump.columns])


def _joined(inputs: pa.Table, scores: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([*inputs.columns, *scores.columns], schema=schema)


@contextmanager
def _scratch_folder() -> Iterator[Path]:
    """Where the first pass leaves each chunk's terms for the second (`batch.terms_file`): a temporary folder
    (TMPDIR decides where; about 350 bytes per comment not yet scored), removed when the job ends.

    Not in the output's spool: the spool's disk is for the output, and a disk that fills up must stop the job
    after whole chunks are written, so that --resume keeps them. The folder is named after this process, so
    that the folders of jobs killed with SIGKILL (which cannot clean up) are removed by the next job.
    """
    base = Path(tempfile.gettempdir())
    for stale in base.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = stale.name[len(_SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-") as folder:
        yield Path(folder)


_SCRATCH_PREFIX = "moderate-score-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def _scoring_processes(model_path: Path, workers: int, pool: ProcessPoolExecutor | None
                       ) -> Iterator[ProcessPoolExecutor | None]:
    """The pool of worker processes for both passes: the caller's, one started here, or none (`workers` <= 1)."""
    if workers <= 1:
        yield None
    elif pool is not None:
        yield pool
    else:
        with start_workers(model_path, workers - 1) as own:
            yield own


def _in_order(
    items: Iterator[tuple[Chunk, CommentBatch]], here: Callable[[CommentBatch], Result],
    there: Callable[[CommentBatch], Result], use: Callable[[Chunk, Result], None], *,
    pool: ProcessPoolExecutor | None, workers: int,
) -> None:
    """Run `here` (this process) or `there` (a worker) on every batch; `use` the results in input order.

    A batch goes to the pool's `workers` processes while fewer than two per worker are waiting, else this
    process runs it (see the module docstring).
    """
    if pool is None:
        for chunk, batch in items:
            use(chunk, here(batch))
        return
    in_flight: deque[tuple[Chunk, Future[Result] | Result]] = deque()
    waiting = 0  # batches sent to the workers and not yet used

    def use_first() -> None:
        nonlocal waiting
        chunk, result = in_flight.popleft()
        if isinstance(result, Future):
            waiting -= 1
            result = result.result()
        use(chunk, result)

    def first_is_ready() -> bool:
        result = in_flight[0][1]
        return not isinstance(result, Future) or result.done()

    for chunk, batch in items:
        if waiting < 2 * workers:
            in_flight.append((chunk, pool.submit(there, batch)))
            waiting += 1
        else:
            in_flight.append((chunk, here(batch)))
        while len(in_flight) >= 2 * (workers + 1) or (in_flight and first_is_ready()):
            use_first()
    while in_flight:
        use_first()


# -- preparing batches ------------------------------------------------------------------------------------
class BatchPreparer:
    """Turns chunks into CommentBatches: the text columns and the articles they name, then, in the second pass,
    the threads of those articles and the texts of parents in other chunks."""

    def __init__(self, articles: Mapping[str, Article]) -> None:
        self.articles = articles

    def prepare(self, chunk: Chunk) -> CommentBatch:
        """The chunk's columns and articles, nothing from elsewhere in the dump."""
        problems = list(chunk.problems)
        table = chunk.table
        texts = text_column(table, "text", problems)
        article_ids = text_column(table, "article_id", problems)
        comment_ids = text_column(table, "comment_id", problems)
        parent_ids = text_column(table, "parent_id", problems)
        assert texts is not None and article_ids is not None  # a Dump checks its columns when opened
        return CommentBatch(
            texts=texts, article_ids=article_ids, articles=self._articles_named(article_ids, chunk.articles),
            comment_ids=comment_ids, parent_ids=parent_ids, problems=problems,
        )

    def first_pass(self, chunk: Chunk, parents: CrossChunkParents, save_terms: Path | None) -> CommentBatch:
        """The batch whose share of the threads is added up; parents wanted across chunks are noted."""
        batch = self.prepare(chunk)
        parents.note(batch)
        batch.save_terms = save_terms
        return batch

    def second_pass(
        self, chunk: Chunk, parents: CrossChunkParents, threads: ArticleThreads, saved_terms: Path | None
    ) -> CommentBatch:
        """The batch to score, with its threads and outside parents; `saved_terms` None: a chunk already written,
        read only for the parent texts that later chunks need."""
        batch = self.prepare(chunk)
        batch.parent_texts = parents.texts_for(batch)
        if saved_terms is not None:
            named = [key for key in pc.unique(batch.article_ids).to_pylist() if key]
            batch.threads = threads.select(named)
            batch.saved_terms = saved_terms
        return batch

    def _articles_named(self, article_ids: pa.Array, from_dump: Mapping[str, Article]) -> dict[str, Article]:
        named: dict[str, Article] = {}
        for key in pc.unique(article_ids).to_pylist():
            if key is None:
                continue
            article = self.articles.get(key) or from_dump.get(key)
            if article is not None:
                named[key] = article
        return named
