"""Make a large comment dump by resampling the threads of our labeled corpus (real comments, no generated text).

Each copy of an article's thread gets its own comment ids (`<id>~<copy>`, parents renamed alike), so replies
still find their parents; article ids stay the same, so the articles table is the corpus's. Copies come in a
random order. Written in blocks, so making ten million rows needs no more memory than making one million.

    .venv/bin/python bench/score_data.py --rows 1000000 --out /tmp/score-bench
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled"
COLUMNS = ("comment_id", "article_id", "parent_id", "text", "author", "created_at")


def load_threads(corpus: Path = CORPUS) -> list[list[dict[str, str]]]:
    """The corpus's comments grouped by article, in file order (labels dropped: a dump has none)."""
    threads: dict[str, list[dict[str, str]]] = {}
    with (corpus / "comments.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            threads.setdefault(row["article_id"], []).append(
                {c: "" if row.get(c) is None else str(row[c]) for c in COLUMNS}
            )
    return list(threads.values())


def write_dump(rows: int, out_dir: Path, *, seed: int = 0, corpus: Path = CORPUS) -> tuple[Path, Path]:
    """comments.csv with `rows` rows and articles.csv, in `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = load_threads(corpus)
    rng = np.random.default_rng(seed)
    comments_path = out_dir / "comments.csv"
    schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    written = 0
    copy = 0
    with pcsv.CSVWriter(comments_path, schema) as writer:
        while written < rows:
            block: dict[str, list[str]] = {c: [] for c in COLUMNS}
            while written < rows and len(block["text"]) < 50_000:
                thread = threads[int(rng.integers(len(threads)))]
                suffix = f"~{copy}"
                copy += 1
                for row in thread[: rows - written]:
                    for column in COLUMNS:
                        value = row[column]
                        if column == "comment_id" or (column == "parent_id" and value):
                            value += suffix
                        block[column].append(value)
                    written += 1
            writer.write_table(pa.table(block, schema=schema))
    articles_path = out_dir / "articles.csv"
    articles = [json.loads(line) for line in (corpus / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    pcsv.write_csv(pa.Table.from_pylist([{k: a[k] for k in ("article_id", "title", "body")} for a in articles]),
                   articles_path)
    return comments_path, articles_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    comments, articles = write_dump(args.rows, args.out, seed=args.seed)
    print(f"{args.rows:,} rows in {comments} ({comments.stat().st_size / 1e6:.0f} MB); articles in {articles}")


if __name__ == "__main__":
    main()
