"""Score CSV or Parquet globs on a Dask cluster, for dumps larger than one machine should take on.

The files become a Dask dataframe (`dd.from_map`, one partition per CSV file or per group of Parquet row
groups, each read with the same tolerant readers as the single-process job, so a broken line is an error row
here too); the bundle and the articles are shipped to every worker once (`client.scatter(..., broadcast=True)`).
A comment's context is the whole input's, as in the single-process job (`batch.job`), whatever the partitions:

1. every partition computes its share of each article's thread (`ChunkScorer.thread_part`: one sparse sum per
   article) and the parents its replies name outside it (`batch.parents.wanted_parents`); these are added up
   by a tree reduction, in partition order;
2. every partition gives the texts of those wanted parents that it holds (`parent_texts_of`), reduced alike;
3. the threads and the parent texts are shipped to every worker, and each partition is scored by
   `map_partitions` with the same `ChunkScorer` the single-process job uses; the result is written as a
   Parquet folder (one file per partition, in input order).

Partitions exchange per-article sums and the texts of parents that sit in another partition than a reply, never
whole comments; what each worker holds grows with the articles and those parents. The input is read three times
(once per step). Without a scheduler address a `LocalCluster` is started for the duration of the job. Workers
must be able to read the input paths. A CSV file is one partition (a split could fall inside a quoted
multi-line comment); Parquet row groups are grouped up to `partition_rows` rows. Both engines write the same
labels and scores, up to the last bits of a float (sums added in another order).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from batch.formats import DASK_FORMATS
from batch.job import dump_schema
from batch.parents import parent_texts_of, texts_for, wanted_parents
from batch.readers import open_dump
from batch.readers.base import DEFAULT_CHUNK_ROWS, Problem, text_column
from batch.scorer import SCORE_COLUMNS, SCORE_SCHEMA, ChunkScorer, CommentBatch, Counts, thread_part_safely
from batch.threads import ArticleThreads, ThreadSumsBuilder
from model.bundle import ModelBundle
from model.errors import DataError
from model.types import Article


def dask_input_format(pattern: str) -> str:
    """csv or parquet from the glob's extension (`dumps/*.csv`, `dumps/part-*.parquet`)."""
    suffix = Path(pattern).suffix.lower()[1:]
    if suffix in DASK_FORMATS:
        return suffix
    raise DataError(f"the dask engine reads CSV or Parquet globs (*.csv, *.parquet); got {pattern!r}")


def require_dask() -> None:
    """Dask is an optional extra (the service and the local engine never need it): say how to get it."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise DataError("--engine dask needs Dask, an optional extra: pip install -e '.[dask]'") from None


def score_with_dask(
    pattern: str,
    output_dir: Path,
    *,
    model_path: Path,
    articles: Mapping[str, Article],
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    partition_rows: int = 200_000,
) -> Counts:
    """Score every row of the files matching `pattern` into a Parquet folder; return the counts of the output."""
    require_dask()
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    fmt = dask_input_format(pattern)
    paths = sorted(Path(pattern).parent.glob(Path(pattern).name))
    if not paths:
        raise DataError(f"no files match {pattern!r}")
    bundle = ModelBundle.load(model_path)
    schema, pieces = _plan(paths, fmt, partition_rows)
    frame = dd.from_map(_read_piece, pieces, meta=_input_meta(schema), enforce_metadata=False)
    meta = _output_meta(schema)
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None)
            )
            client = stack.enter_context(Client(cluster))
        [shipped_bundle] = client.scatter([bundle], broadcast=True)
        [shipped_articles] = client.scatter([dict(articles)], broadcast=True)
        parts = frame.to_delayed()
        threads, wanted = dask.compute(_reduced(
            [dask.delayed(_first_step)(part, shipped_bundle, shipped_articles) for part in parts], _add_first))[0]
        [shipped_wanted] = client.scatter([wanted], broadcast=True)
        parent_texts = dask.compute(_reduced(
            [dask.delayed(_second_step)(part, shipped_wanted) for part in parts], _add_texts))[0]
        [shipped_context] = client.scatter([(threads, parent_texts)], broadcast=True)
        scored = frame.map_partitions(_score_and_tally, shipped_bundle, shipped_articles, shipped_context,
                                      meta=meta)
        # One graph for both: the parts are written and their counts gathered from the same scoring tasks.
        written = scored.drop(columns=[_COUNTS]).to_parquet(str(output_dir), write_index=False, compute=False)
        tally_meta = pd.DataFrame({_COUNTS: pd.Series([], dtype=object)})
        tallies = scored[[_COUNTS]].map_partitions(lambda part: part.head(1), meta=tally_meta)
        _, gathered = dask.compute(written, tallies)
    counts = Counts()
    for entry in gathered[_COUNTS]:
        if isinstance(entry, str):
            counts.add(Counts.from_dict(json.loads(entry)))
    return counts


Context = tuple[ArticleThreads, dict[str, str]]  # the whole input's threads, and texts of parents by key


def _score_and_tally(
    frame: pd.DataFrame, bundle: ModelBundle, articles: Mapping[str, Article], context: Context
) -> pd.DataFrame:
    """score_partition, plus a column carrying the partition's counts (as JSON, in its first row only)."""
    scored, counts = score_partition(frame, bundle, articles, context)
    tally: list[str | None] = [None] * len(scored)
    if tally:
        tally[0] = json.dumps(counts.to_dict())
    scored[_COUNTS] = pd.Series(tally, index=scored.index, dtype=object)
    return scored


def score_partition(
    frame: pd.DataFrame, bundle: ModelBundle, articles: Mapping[str, Article], context: Context | None = None
) -> tuple[pd.DataFrame, Counts]:
    """One partition with every input column (renamed `input_<name>` on collision) plus SCORE_COLUMNS.

    With `context` (steps 1 and 2 of the module docstring), its comments see their whole thread and their
    parents in other partitions; without, the partition is taken as the whole input.
    """
    inputs, batch = _batch_of(frame, articles)
    if context is not None:
        threads, parent_texts = context
        batch.threads = threads
        batch.parent_texts = texts_for(batch, parent_texts)[0]
    result = ChunkScorer(bundle).score(batch)
    scored = result.table.to_pandas()
    out = inputs.rename(columns={c: f"input_{c}" for c in inputs.columns if c in SCORE_COLUMNS})
    for column in SCORE_COLUMNS:
        out[column] = scored[column].to_numpy()
    return out, result.counts


def _first_step(frame: pd.DataFrame, bundle: ModelBundle, articles: Mapping[str, Article]
                ) -> tuple[ArticleThreads, Counter[str]]:
    _, batch = _batch_of(frame, articles)
    return thread_part_safely(ChunkScorer(bundle), batch), wanted_parents(batch)


def _add_first(left: tuple[ArticleThreads, Counter[str]], right: tuple[ArticleThreads, Counter[str]]
               ) -> tuple[ArticleThreads, Counter[str]]:
    builder = ThreadSumsBuilder(left[0].width)
    builder.add(left[0])
    builder.add(right[0])
    return builder.result(), left[1] + right[1]


def _second_step(frame: pd.DataFrame, wanted: Mapping[str, int]) -> dict[str, str]:
    _, batch = _batch_of(frame, {})
    return parent_texts_of(batch, wanted)


def _add_texts(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    return {**right, **left}  # the first partition's copy of a repeated id


def _reduced(items: list[Any], add: Any) -> Any:
    """A tree of `add` over delayed items that keeps their order (left before right at every node)."""
    import dask

    while len(items) > 1:
        items = [dask.delayed(add)(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]


def _batch_of(frame: pd.DataFrame, articles: Mapping[str, Article]) -> tuple[pd.DataFrame, CommentBatch]:
    """The partition's input columns, and the CommentBatch of its rows (reader problems included)."""
    problems: list[Problem | None] = [
        None if p is None else Problem(*p.split(_SEPARATOR, 1)) for p in _values(frame, _PROBLEM)
    ]
    inputs = frame.drop(columns=[_PROBLEM])
    texts, article_ids = _text(inputs, "text", problems), _text(inputs, "article_id", problems)
    assert texts is not None and article_ids is not None  # _plan checked the columns
    batch = CommentBatch(
        texts=texts, article_ids=article_ids, articles=articles, comment_ids=_text(inputs, "comment_id", problems),
        parent_ids=_text(inputs, "parent_id", problems), problems=problems,
    )
    return inputs, batch


# -- reading ------------------------------------------------------------------------------------------------
_PROBLEM = "__problem"  # the reader's problem with a row, carried from the read task to the scoring task
_COUNTS = "__counts"  # a partition's counts, carried from the scoring task to the job (not written)
_SEPARATOR = "\x1f"


def _plan(paths: list[Path], fmt: str, partition_rows: int) -> tuple[pa.Schema, list[tuple[str, str, tuple[int, ...]]]]:
    """The common schema of the files, and the pieces to read: (format, path, Parquet row groups)."""
    schema: pa.Schema | None = None
    pieces: list[tuple[str, str, tuple[int, ...]]] = []
    for path in paths:
        dump = open_dump(path, fmt)
        file_schema = dump_schema(dump)
        if schema is None:
            schema = file_schema
        elif not file_schema.equals(schema):
            raise DataError(f"{path.name} has columns {', '.join(file_schema.names)}; the first file has "
                            f"{', '.join(schema.names)}: every file of a glob needs the same columns")
        if fmt == "csv":
            pieces.append((fmt, str(path), ()))
            continue
        metadata = pq.ParquetFile(path).metadata
        group: list[int] = []
        rows = 0
        for index in range(metadata.num_row_groups):
            group.append(index)
            rows += metadata.row_group(index).num_rows
            if rows >= partition_rows:
                pieces.append((fmt, str(path), tuple(group)))
                group, rows = [], 0
        if group or not pieces or pieces[-1][1] != str(path):
            pieces.append((fmt, str(path), tuple(group)))
    assert schema is not None
    return schema, pieces


def _read_piece(piece: tuple[str, str, tuple[int, ...]]) -> pd.DataFrame:
    fmt, path, row_groups = piece
    if fmt == "parquet":
        table = pq.ParquetFile(path).read_row_groups(list(row_groups))
        problems: list[Problem | None] = [None] * table.num_rows
    else:
        chunks = list(open_dump(Path(path), fmt).chunks(DEFAULT_CHUNK_ROWS))
        table = pa.concat_tables([c.table for c in chunks]) if chunks else None
        problems = [p for c in chunks for p in c.problems]
        if table is None:
            return _input_meta(dump_schema(open_dump(Path(path), fmt)))
    frame = table.to_pandas()
    frame[_PROBLEM] = pd.Series([None if p is None else f"{p.kind}{_SEPARATOR}{p.message}" for p in problems],
                                dtype=object)
    return frame


def _input_meta(schema: pa.Schema) -> pd.DataFrame:
    frame = schema.empty_table().to_pandas()
    frame[_PROBLEM] = pd.Series([], dtype=object)
    return frame


def _output_meta(schema: pa.Schema) -> pd.DataFrame:
    out = schema.empty_table().to_pandas()
    out = out.rename(columns={c: f"input_{c}" for c in out.columns if c in SCORE_COLUMNS})
    empty = SCORE_SCHEMA.empty_table().to_pandas()
    for column in SCORE_COLUMNS:
        out[column] = empty[column]
    out[_COUNTS] = pd.Series([], dtype=object)
    return out


def _values(frame: pd.DataFrame, column: str) -> list[Any]:
    return list(pa.Array.from_pandas(frame[column]).to_pylist())


def _text(frame: pd.DataFrame, column: str, problems: list[Problem | None]) -> pa.Array | None:
    if column not in frame.columns:
        return None
    return text_column(pa.table({column: pa.Array.from_pandas(frame[column])}), column, problems)
