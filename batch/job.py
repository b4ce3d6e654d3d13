"""Run a batch-scoring job: read a dump in chunks, score them on every core, write them in order.

    reader (this process) -> chunks -> worker processes (`batch.workers`) -> writer (this process)
                                    -> this process, for the chunks the workers have no room for

With `workers` = N, N processes score: N - 1 worker processes, and this process, which also reads and writes
and scores a chunk itself whenever every worker already has two waiting (on two cores: one worker, and this
process scoring about half the chunks; a third process would only add its start-up and the copying of chunks
across process boundaries). Results are written in input order whatever order they finish in; at most two
chunks per scoring process are in flight, so memory is bounded by the chunk size, not by the dump.

The reader also keeps a bounded memory of the most recent comments (`parent_memory` rows, by article and
comment id), so that a reply whose parent sits in an earlier chunk is still scored with its parent's text; an
older parent is treated as unknown (the row is scored as a top-level comment and counted as "parent not
found").

Resuming (`resume=True`) skips the chunks already written (see `batch.output`); the chunks before that
point are read again, without scoring, only to rebuild the parent memory, so a resumed job writes the same rows
as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from batch.readers.base import DEFAULT_CHUNK_ROWS, Chunk, Dump, text_column
from batch.scorer import (
    SCORE_COLUMNS,
    SCORE_SCHEMA,
    ChunkScorer,
    CommentBatch,
    Counts,
    ScoredBatch,
    score_safely,
)
from batch.workers import keep_freed_memory, start_workers
from batch.workers import score as score_in_worker
from model.bundle import ModelBundle
from model.types import Article

#: Comments remembered (by article and id) so that replies in later chunks find their parent's text.
DEFAULT_PARENT_MEMORY = 200_000

Progress = Callable[[int, float | None], None]


class Output(Protocol):
    def start(self, job: dict[str, Any], resume: bool) -> tuple[int, Counts]: ...
    def write(self, index: int, table: pa.Table, counts: Counts) -> None: ...
    def finish(self, schema: pa.Schema) -> None: ...


@dataclass
class JobOptions:
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = 1
    resume: bool = False
    parent_memory: int = DEFAULT_PARENT_MEMORY


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
        "parent_memory": options.parent_memory,
        "columns": list(schema.names),
    }
    first_chunk, counts = output.start(job, options.resume)
    resumed_rows = counts.rows
    preparer = BatchPreparer(articles or {}, options.parent_memory)
    rows_this_run = 0

    def write(chunk: Chunk, scored: ScoredBatch) -> None:
        nonlocal rows_this_run
        output.write(chunk.index, _joined(chunk.table, scored.table, schema), scored.counts)
        counts.add(scored.counts)
        rows_this_run += len(chunk)
        if progress is not None:
            progress(counts.rows, chunk.position)

    chunks = _chunks_to_score(dump.chunks(options.chunk_rows), first_chunk, preparer)
    scorer = ChunkScorer(bundle)
    keep_freed_memory()
    if options.workers <= 1:
        for chunk, batch in chunks:
            write(chunk, score_safely(scorer, batch))
    elif pool is not None:
        _score_in_pool(chunks, write, scorer, pool, options.workers - 1)
    else:
        with start_workers(model_path, options.workers - 1) as own_pool:
            _score_in_pool(chunks, write, scorer, own_pool, options.workers - 1)
    output.finish(schema)
    return JobSummary(counts, time.perf_counter() - started, rows_this_run, resumed_rows)


def dump_schema(dump: Dump) -> pa.Schema:
    schema = getattr(dump, "schema", None)
    if isinstance(schema, pa.Schema):
        return schema
    return pa.schema([(c, pa.string()) for c in dump.columns])


def _chunks_to_score(
    chunks: Iterator[Chunk], first_chunk: int, preparer: BatchPreparer
) -> Iterator[tuple[Chunk, CommentBatch]]:
    for chunk in chunks:
        if chunk.index < first_chunk:
            preparer.remember(chunk)
            continue
        yield chunk, preparer.prepare(chunk)


def _joined(inputs: pa.Table, scores: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([*inputs.columns, *scores.columns], schema=schema)


def _score_in_pool(
    chunks: Iterator[tuple[Chunk, CommentBatch]], write: Callable[[Chunk, ScoredBatch], None],
    scorer: ChunkScorer, pool: ProcessPoolExecutor, workers: int,
) -> None:
    """Score in the pool's `workers` processes and in this one (see the module docstring); write in order."""
    in_flight: deque[tuple[Chunk, Future[ScoredBatch] | ScoredBatch]] = deque()
    waiting = 0  # chunks sent to the workers and not yet written

    def write_first() -> None:
        nonlocal waiting
        chunk, result = in_flight.popleft()
        if isinstance(result, Future):
            waiting -= 1
            result = result.result()
        write(chunk, result)

    def first_is_ready() -> bool:
        result = in_flight[0][1]
        return not isinstance(result, Future) or result.done()

    for chunk, batch in chunks:
        if waiting < 2 * workers:
            in_flight.append((chunk, pool.submit(score_in_worker, batch)))
            waiting += 1
        else:
            in_flight.append((chunk, score_safely(scorer, batch)))
        while len(in_flight) >= 2 * (workers + 1) or (in_flight and first_is_ready()):
            write_first()
    while in_flight:
        write_first()


# -- preparing batches ------------------------------------------------------------------------------------
class BatchPreparer:
    """Turns chunks into CommentBatches: text columns, the articles they name, and parents from earlier chunks."""

    def __init__(self, articles: Mapping[str, Article], parent_memory: int) -> None:
        self.articles = articles
        self.memory = ParentMemory(parent_memory)

    def prepare(self, chunk: Chunk) -> CommentBatch:
        problems = list(chunk.problems)
        table = chunk.table
        texts = text_column(table, "text", problems)
        article_ids = text_column(table, "article_id", problems)
        comment_ids = text_column(table, "comment_id", problems)
        parent_ids = text_column(table, "parent_id", problems)
        assert texts is not None and article_ids is not None  # a Dump checks its columns when opened
        parent_texts = None
        if parent_ids is not None and comment_ids is not None:
            parent_texts = self._outside_parents(article_ids, comment_ids, parent_ids)
        self.memory.add(article_ids, comment_ids, texts)
        return CommentBatch(
            texts=texts, article_ids=article_ids, articles=self._articles_named(article_ids, chunk.articles),
            comment_ids=comment_ids, parent_ids=parent_ids, parent_texts=parent_texts, problems=problems,
        )

    def remember(self, chunk: Chunk) -> None:
        """Add a chunk's comments to the parent memory without preparing it (chunks already written)."""
        problems = list(chunk.problems)
        texts = text_column(chunk.table, "text", problems)
        article_ids = text_column(chunk.table, "article_id", problems)
        comment_ids = text_column(chunk.table, "comment_id", problems)
        if texts is not None and article_ids is not None:
            self.memory.add(article_ids, comment_ids, texts)

    def _articles_named(self, article_ids: pa.Array, from_dump: Mapping[str, Article]) -> dict[str, Article]:
        named: dict[str, Article] = {}
        for key in pc.unique(article_ids).to_pylist():
            if key is None:
                continue
            article = self.articles.get(key) or from_dump.get(key)
            if article is not None:
                named[key] = article
        return named

    def _outside_parents(self, article_ids: pa.Array, comment_ids: pa.Array, parent_ids: pa.Array) -> pa.Array | None:
        parent_keys = _keys(article_ids, parent_ids)
        has_parent = pc.fill_null(pc.not_equal(parent_ids, ""), False)
        in_chunk = pc.fill_null(pc.is_in(parent_keys, value_set=_keys(article_ids, comment_ids)), False)
        outside = pc.and_(has_parent, pc.invert(in_chunk))
        if not pc.any(outside).as_py():
            return None
        return self.memory.texts_of(parent_keys, outside)


def _keys(article_ids: pa.Array, comment_ids: pa.Array) -> pa.Array:
    """article id + U+001F + comment id (ids are unique per article, not across articles)."""
    return pc.binary_join_element_wise(article_ids, comment_ids, "\x1f")


class ParentMemory:
    """The text of the most recent `limit` comments by (article, id), kept as Arrow arrays chunk by chunk."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[tuple[pa.Array, pa.Array]] = deque()
        self._rows = 0
        self._index: tuple[pa.Array, pa.Array] | None = None

    def add(self, article_ids: pa.Array, comment_ids: pa.Array | None, texts: pa.Array) -> None:
        if comment_ids is None or self.limit <= 0:
            return
        self._chunks.append((_keys(article_ids, comment_ids), texts))
        self._rows += len(texts)
        while self._chunks and self._rows - len(self._chunks[0][1]) >= self.limit:
            self._rows -= len(self._chunks.popleft()[1])
        self._index = None

    def texts_of(self, keys: pa.Array, wanted: pa.Array) -> pa.Array:
        """For each key where `wanted` is true, the remembered text (null if not remembered); null elsewhere."""
        if not self._chunks:
            return pa.nulls(len(keys), pa.string())
        if self._index is None:
            # Newest first, so a repeated id resolves to its most recent comment.
            ordered = list(reversed(self._chunks))
            self._index = (
                pa.concat_arrays([k.cast(pa.string()) for k, _ in ordered]),
                pa.concat_arrays([t.cast(pa.string()) for _, t in ordered]),
            )
        all_keys, all_texts = self._index
        positions = pc.index_in(pc.if_else(wanted, keys, pa.scalar(None, keys.type)), value_set=all_keys)
        return all_texts.take(positions)
