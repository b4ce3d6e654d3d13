"""Where batch scoring spends its time, stage by stage, beside the naive scorer's stages, in one process.

    .venv/bin/python bench/score_profile.py --rows 100000            # needs a dump from bench/score_data.py
    .venv/bin/python bench/score_profile.py --rows 100000 --core-proposal

CPU time per row (`time.process_time`, so load from other processes on the machine matters less than it does
for wall time), single process, chunks of 20,000 rows, best of `--repeat` passes.

`--core-proposal` also measures two changes to the core that this report proposes (see docs/benchmarks.md),
applied here by swapping two functions in this process only: counting upper-case and ASCII letters per text
from the UTF-8 bytes instead of one RE2 match per letter (`model.cues`), and row-wise dot products against a
few article rows as sparse mat-vecs instead of a sorted search (`model.sparse_ops.rowwise_dot`). It checks that
the scores stay identical. Nothing in the product uses these prototypes.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]


def best_cpu(function: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


@contextlib.contextmanager
def proposed_core_changes() -> Iterator[None]:
    """Prototype of the two proposed core changes, swapped in for the duration of the block."""
    import model.cues as cues
    import model.features as features
    import model.sparse_ops as sparse_ops

    upper = np.zeros(256)
    upper[ord("A") : ord("Z") + 1] = 1.0
    letter = upper.copy()
    letter[ord("a") : ord("z") + 1] = 1.0

    def count_arrow(texts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        array = pa.array(texts, type=pa.large_string())
        counts = np.column_stack([
            pc.count_substring_regex(array, p, ignore_case=i).to_numpy(zero_copy_only=False).astype(np.float64)
            for p, i in cues._PATTERNS.values()
        ])
        lengths = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64)
        # ASCII letters are single bytes in UTF-8, never part of a longer sequence: count bytes per text.
        buffers = array.buffers()
        offsets = np.frombuffer(buffers[1], np.int64, len(array) + 1, array.offset * 8)
        data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
        data = data[offsets[0] : offsets[-1]]
        rows = np.repeat(np.arange(len(array)), np.diff(offsets))
        uppers = np.bincount(rows, weights=upper[data], minlength=len(array))
        letters = np.bincount(rows, weights=letter[data], minlength=len(array))
        return counts, uppers, letters, lengths

    original_dot = sparse_ops.rowwise_dot

    def rowwise_dot(left: sp.csr_matrix, right: sp.csr_matrix, right_rows: np.ndarray) -> np.ndarray:
        # Few right rows (articles, thread sums): scatter each into a dense vector once, then one sparse
        # mat-vec for the comments that point at it. Many right rows (parents): the existing search.
        if right.shape[0] > 256 or left.shape[0] == 0 or left.nnz == 0 or right.nnz == 0:
            return original_dot(left, right, right_rows)
        out = np.zeros(left.shape[0])
        right_rows = np.asarray(right_rows)
        dense = np.zeros(right.shape[1])
        order = np.argsort(right_rows, kind="stable")
        bounds = np.searchsorted(right_rows[order], np.arange(right.shape[0] + 1))
        for r in range(right.shape[0]):
            members = order[bounds[r] : bounds[r + 1]]
            if not len(members):
                continue
            start, end = right.indptr[r], right.indptr[r + 1]
            dense[right.indices[start:end]] = right.data[start:end]
            out[members] = left[members] @ dense
            dense[right.indices[start:end]] = 0.0
        return out

    saved = (cues._count_arrow, features.rowwise_dot)
    cues._count_arrow, features.rowwise_dot = count_arrow, rowwise_dot
    try:
        yield
    finally:
        cues._count_arrow, features.rowwise_dot = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, default=Path("/tmp/score-bench/1000000"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "artifacts" / "default")
    parser.add_argument("--naive", type=Path, default=Path("/tmp/score-bench/naive.joblib"))
    parser.add_argument("--core-proposal", action="store_true")
    args = parser.parse_args()

    import joblib
    import pandas as pd
    import pyarrow.parquet as pq

    from model.batch_terms import normalize_batch, word_counts
    from model.bundle import ModelBundle
    from model.cues import spam_cues
    from model.dumps import CsvDump
    from model.score_job import BatchPreparer, _joined, dump_schema, output_schema
    from model.scoring import ChunkScorer
    from training.score_cli import load_articles

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
    preparer = BatchPreparer(articles, 200_000)
    batches = [preparer.prepare(chunk) for chunk in chunks]
    stage("prepare batches (columns, parents from earlier chunks)",
          lambda: [BatchPreparer(articles, 200_000).prepare(chunk) for chunk in chunks])
    texts = [normalize_batch(b.texts) for b in batches]
    stage("  normalise texts (model.batch_terms)", lambda: [normalize_batch(b.texts) for b in batches])
    stage("  hash words and bigrams (model.batch_terms)", lambda: [word_counts(t, features.hasher_) for t in texts])
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
    if args.core_proposal:
        with proposed_core_changes():
            stage("score batches with the proposed core changes", lambda: [scorer.score(b) for b in batches])
            patched = [scorer.score(b).table for b in batches]
        same = all(p.equals(s.table) for p, s in zip(patched, scored, strict=True))
        rows.append(("  identical output with the proposed core changes", float(same)))

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
