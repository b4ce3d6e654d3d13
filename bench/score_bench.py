"""Benchmark `moderate score` against the naive batch scorer, in the same run, end to end from CSV to Parquet.

    .venv/bin/python bench/score_bench.py                      # 1,000,000 rows, then 10,000,000 for memory
    .venv/bin/python bench/score_bench.py --rows 200000 --scale 0 --repeat 1   # a quick look

Both sides read the same CSV (comments resampled from data/labeled by `bench/score_data.py`) and write Parquet:
- naive: `bench/score_naive.py` (pandas read, `Pipeline(TfidfVectorizer(), LogisticRegression())`
  `predict_proba` on the whole text column, write), comment text only;
- ours: `moderate score comments.csv --articles articles.csv -o out.parquet` with the full model (article,
  parent and thread features), chunked, on every core.

Each run is a separate process tree, timed from start to exit (Python start-up, imports and model loading
included on both sides), with its memory sampled every 50 ms as the sum of the resident set sizes of every
process in the tree (shared pages counted once per process, so this overstates ours, which has three). Runs
alternate (naive, ours, naive, ours, ...) so that load from elsewhere on the machine hits both alike; the median
is reported. The larger dump (`--scale` times the rows) is run for ours only, to show that memory does not grow
with the dump (the naive scorer holds the whole dump in memory by design).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from score_data import write_dump  # noqa: E402


def tree_rss_bytes(pid: int) -> int:
    """Resident set size of a process and all its descendants, from /proc (Linux)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(command: list[str], rows: int) -> dict[str, float]:
    """Run a command; wall time, CPU time of the tree, peak tree RSS and rows/s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rows": rows, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rows_per_s": round(rows / wall),
            "peak_rss_mib": round(peak / 2**20), "stdout": stdout.strip()[-400:]}  # type: ignore[dict-item]


def naive_command(workdir: Path, dump: Path) -> list[str]:
    return [sys.executable, "bench/score_naive.py", "score", "--model", str(workdir / "naive.joblib"),
            "--input", str(dump), "--output", str(workdir / "naive.parquet")]


def ours_command(dump: Path, articles: Path, model: Path, output: Path, workers: int | None) -> list[str]:
    command = [sys.executable, "-m", "moderate.cli", "score", str(dump), "--articles", str(articles),
               "-o", str(output), "--model", str(model), "--quiet"]
    return command + (["--workers", str(workers)] if workers else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=10, help="Also run ours on rows x scale (0: skip).")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="Worker processes for ours (default: cores).")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/score-bench"))
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "artifacts" / "default")
    args = parser.parse_args()

    workdir = args.workdir
    one_x = workdir / f"{args.rows}"
    if not (one_x / "comments.csv").exists():
        write_dump(args.rows, one_x)
    dump, articles = one_x / "comments.csv", one_x / "articles.csv"
    subprocess.run([sys.executable, "bench/score_naive.py", "fit", "--model", str(workdir / "naive.joblib")],
                   cwd=ROOT, check=True)
    ours_out = workdir / "ours.parquet"
    runs: dict[str, list[dict[str, float]]] = {"naive": [], "ours": []}
    for round_ in range(args.repeat):
        for name in ("naive", "ours"):
            if name == "naive":
                command = naive_command(workdir, dump)
            else:
                ours_out.unlink(missing_ok=True)
                command = ours_command(dump, articles, args.model, ours_out, args.workers)
            result = measure(command, args.rows)
            runs[name].append(result)
            print(f"round {round_ + 1} {name:5s} {result['rows_per_s']:>8,} rows/s  wall {result['wall_s']:7.1f} s  "
                  f"cpu {result['cpu_s']:7.1f} s  peak {result['peak_rss_mib']:>5,} MiB", flush=True)
    summary: dict[str, object] = {
        "rows": args.rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "naive_rows_per_s": statistics.median(r["rows_per_s"] for r in runs["naive"]),
        "ours_rows_per_s": statistics.median(r["rows_per_s"] for r in runs["ours"]),
        "naive_peak_mib": max(r["peak_rss_mib"] for r in runs["naive"]),
        "ours_peak_mib": max(r["peak_rss_mib"] for r in runs["ours"]),
        "runs": runs,
    }
    summary["ratio"] = round(float(summary["ours_rows_per_s"]) / float(summary["naive_rows_per_s"]), 2)  # type: ignore[arg-type]
    if args.scale > 1:
        big_rows = args.rows * args.scale
        big = workdir / f"{big_rows}"
        if not (big / "comments.csv").exists():
            write_dump(big_rows, big)
        ours_out.unlink(missing_ok=True)
        result = measure(ours_command(big / "comments.csv", big / "articles.csv", args.model, ours_out, args.workers),
                         big_rows)
        summary["ours_scaled"] = result
        print(f"ours x{args.scale}: {result['rows_per_s']:,} rows/s, peak {result['peak_rss_mib']:,} MiB", flush=True)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    (workdir / "results.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
