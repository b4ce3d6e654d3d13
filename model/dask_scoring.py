"""Score CSV or Parquet globs on a Dask cluster, for dumps larger than one machine should take on.

The input becomes a Dask dataframe (`dd.read_csv` with every column as text, or `dd.read_parquet`); the bundle
and the articles are shipped to every worker once (`client.scatter(..., broadcast=True)`) and each partition is
scored by `map_partitions` with the same `ChunkScorer` the single-process job uses; the result is written as a
Parquet folder (one file per partition, in input order). Without a scheduler address a `LocalCluster` is
started for the duration of the job.

A partition plays the part of a chunk, with the same semantics: the thread of a comment is its article's
comments in the same partition, and a parent is found within the partition. Unlike the single-process job there
is no memory of earlier partitions, so a reply whose parent sits in another partition is scored as a top-level
comment. Each CSV file is one partition (a CSV block boundary could fall inside a quoted multi-line comment);
Parquet files are split as Dask sees fit. With partitions that match the single-process chunks (for example one
file per chunk), both engines write the same rows and scores.

The dask engine expects well-formed files: a broken CSV line fails the job (the single-process engine turns it
into an error row). Rows with empty text or an unknown article are error rows as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from model.bundle import ModelBundle
from model.dumps import REQUIRED_COLUMNS
from model.errors import DataError
from model.scoring import (
    EMPTY_TEXT,
    MISSING_ARTICLE,
    SCORE_COLUMNS,
    SCORE_SCHEMA,
    UNKNOWN_ARTICLE,
    ChunkScorer,
    CommentBatch,
    Counts,
)
from model.types import Article

DASK_FORMATS: tuple[str, ...] = ("csv", "parquet")


def dask_input_format(pattern: str) -> str:
    """csv or parquet from the glob's extension (`dumps/*.csv`, `dumps/part-*.parquet`)."""
    suffix = Path(pattern).suffix.lower()
    if suffix in (".csv", ".parquet"):
        return suffix[1:]
    raise DataError(f"the dask engine reads CSV or Parquet globs (*.csv, *.parquet); got {pattern!r}")


def score_with_dask(
    pattern: str,
    output_dir: Path,
    *,
    model_path: Path,
    articles: Mapping[str, Article],
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
) -> Counts:
    """Score every row matched by `pattern` into a Parquet folder; return the counts of the whole output."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    fmt = dask_input_format(pattern)
    if not sorted(Path(pattern).parent.glob(Path(pattern).name)):
        raise DataError(f"no files match {pattern!r}")
    bundle = ModelBundle.load(model_path)
    if fmt == "csv":
        frame = dd.read_csv(pattern, dtype=str, keep_default_na=False, na_filter=False, blocksize=None)
    else:
        frame = dd.read_parquet(pattern)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(repr(c) for c in missing)} in {pattern}")
    meta = _output_meta(frame._meta)
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
        scored = frame.map_partitions(score_partition, shipped_bundle, shipped_articles, meta=meta)
        scored.to_parquet(str(output_dir), write_index=False)
    return output_counts(output_dir)


def score_partition(frame: pd.DataFrame, bundle: ModelBundle, articles: Mapping[str, Article]) -> pd.DataFrame:
    """One partition with every input column (renamed `input_<name>` on collision) plus SCORE_COLUMNS."""
    batch = CommentBatch(
        texts=_text(frame, "text"), article_ids=_text(frame, "article_id"), articles=articles,
        comment_ids=_text(frame, "comment_id") if "comment_id" in frame.columns else None,
        parent_ids=_text(frame, "parent_id") if "parent_id" in frame.columns else None,
    )
    scored = ChunkScorer(bundle).score(batch).table.to_pandas()
    out = frame.rename(columns={c: f"input_{c}" for c in frame.columns if c in SCORE_COLUMNS}).reset_index(drop=True)
    for column in SCORE_COLUMNS:
        out[column] = scored[column].to_numpy()
    out.index = frame.index
    return out


def output_counts(output_dir: Path) -> Counts:
    """Rows by label, action and error kind, read back from a scored Parquet folder."""
    import pyarrow.parquet as pq

    table = pq.read_table(output_dir, columns=["label", "action", "error"])
    counts = Counts(rows=table.num_rows)
    counts.labels.update(_value_counts(table.column("label")))
    counts.actions.update(_value_counts(table.column("action")))
    counts.errors.update(_value_counts(table.column("error"), kind=True))
    return counts


def _value_counts(column: Any, kind: bool = False) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in column.value_counts().to_pylist():
        value = entry["values"]
        if value is None:
            continue
        key = _error_kind(value) if kind else value
        out[key] = out.get(key, 0) + int(entry["counts"])
    return out


def _error_kind(message: str) -> str:
    if message.startswith(UNKNOWN_ARTICLE):
        return UNKNOWN_ARTICLE
    if message in (EMPTY_TEXT, MISSING_ARTICLE):
        return message
    return message.split(":", 1)[0]


def _text(frame: pd.DataFrame, column: str) -> pa.Array:
    return pa.array(frame[column].astype(object).where(frame[column].notna(), None).to_numpy(), type=pa.string())


def _output_meta(meta: pd.DataFrame) -> pd.DataFrame:
    out = meta.rename(columns={c: f"input_{c}" for c in meta.columns if c in SCORE_COLUMNS})
    empty = SCORE_SCHEMA.empty_table().to_pandas()
    for column in SCORE_COLUMNS:
        out[column] = empty[column]
    return out
