"""Where batch scoring spends its time, stage by stage, beside the naive scorer's stages, in one process.

    .venv/bin/python bench/score_profile.py --rows 100000            # needs a dump from bench/score_data.py

CPU time per row (`time.process_time`, so load from other processes on the machine matters less than it does
for wall time), single process set up as a job's scoring processes are (one BLAS thread, freed memory kept),
chunks of 20,000 rows, best of `--repeat` passes. (An earlier version measured
prototypes of two core changes with `--core-proposal`; both are in `model/` now.)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def best_cpu(function: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, default=Path("/tmp/score-bench/1000000"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "artifacts" / "default")
    parser.add_argument("--naive", type=Path, default=Path("/tmp/score-bench/naive.joblib"))
    args = parser.parse_args()

    import joblib
    import pandas as pd
    import pyarrow.parquet as pq

    from batch.job import BatchPreparer, _joined, dump_schema, output_schema
    from batch.readers.csv_reader import CsvDump
    from batch.scorer import ChunkScorer
    from batch.workers import keep_freed_memory, one_blas_thread
    from model.bundle import ModelBundle
    from model.cues import spam_cues
    from model.fast.batch_terms import normalize_batch, word_counts
    from moderate.score import load_articles

    keep_freed_memory()  # as a job's scoring processes do
    one_blas_thread()
    dump_path = args.dump / "comments.csv"
    bundle = ModelBundle.load(args.model)
    features = bundle.pipeline.named_steps["features"]
    articles, _ = load_articles(args.dump / "articles.csv")
    sample = args.dump / f"sample-{args.rows}.csv"
    if not sample.exists():
        pd.read_csv(dump_path, dtype=str, keep_default_na=False, nrows=args.rows).to_csv(sample, index=False)
    n = args.rows
    rows: list[tuple[str, float]] = []

    def stage(name: str, function: Callable[[], Any]) -> None:
        rows.append((name, best_cpu(function, args.repeat) * 1e6 / n))

    dump = CsvDump(sample)
    chunks = list(dump.chunks(20_000))
    stage("read CSV in chunks (Arrow)", lambda: list(CsvDump(sample).chunks(20_000)))
    preparer = BatchPreparer(articles)
    batches = [preparer.prepare(chunk) for chunk in chunks]
    stage("prepare batches (columns, parents from earlier chunks)",
          lambda: [BatchPreparer(articles).prepare(chunk) for chunk in chunks])
    texts = [normalize_batch(b.texts) for b in batches]
    stage("  normalise texts (model.fast.batch_terms)", lambda: [normalize_batch(b.texts) for b in batches])
    stage("  hash words and bigrams (batch_terms)", lambda: [word_counts(t, features.hasher_) for t in texts])
    stage("  core: spam cues (model.cues.spam_cues)", lambda: [spam_cues(t.to_pylist()) for t in texts])
    scorer = ChunkScorer(bundle)
    scored = [scorer.score(b) for b in batches]
    stage("score batches (ChunkScorer.score, everything above marked '  ' and the rest)",
          lambda: [scorer.score(b) for b in batches])
    schema = output_schema(dump_schema(dump))
    out_dir = args.dump / "profile-parts"
    out_dir.mkdir(exist_ok=True)
    def write_parts() -> None:
        for chunk, result in zip(chunks, scored, strict=True):
            pq.write_table(_joined(chunk.table, result.table, schema), out_dir / f"{chunk.index}.parquet")

    stage("write Parquet parts", write_parts)
    naive = joblib.load(args.naive)
    frame = pd.read_csv(sample, dtype=str, keep_default_na=False)
    stage("naive: pandas read_csv", lambda: pd.read_csv(sample, dtype=str, keep_default_na=False))
    stage("naive: TF-IDF transform", lambda: naive.named_steps["tfidf"].transform(frame["text"]))
    stage("naive: predict_proba (TF-IDF + LR)", lambda: naive.predict_proba(frame["text"]))
    stage("naive: write Parquet", lambda: frame.to_parquet(args.dump / "profile-naive.parquet", index=False))

    width = max(len(name) for name, _ in rows)
    print(f"{'stage':{width}s}  CPU µs/row ({n:,} rows, best of {args.repeat})")
    for name, value in rows:
        print(f"{name:{width}s}  {value:8.2f}")


if __name__ == "__main__":
    main()
