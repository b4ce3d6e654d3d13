"""Load and soak: hold concurrency 64 against POST /classify of a real `moderate serve` on 127.0.0.1.

Starts the server (its own temporary database), stores the articles, then runs `--concurrency` clients in a
closed loop for `--duration` seconds: single comments with the article inline (70%) or by reference (20%), and
8-comment threads with replies inside the request (10%), every comment remembered by the service. Comment ids
cycle through a fixed pool per article, so what the service remembers reaches its steady size during warm-up;
after that, memory must stay flat.

Checks, each a line of the report and all in the exit status:
- zero errors: every answer is 200 with one result per comment, in request order, and no request fails;
- the server counted every request the clients sent (from /metrics);
- resident memory (sampled from /proc every second) is flat after warm-up: the median of the last third of the
  samples is within --rss-tolerance (15%) of the median of the first third;
- the server stops cleanly on SIGTERM, with no traceback in its log.
p50, p99 and the maximum latency are reported, not judged: the machine is shared.

    .venv/bin/python bench/soak.py                       # 5 minutes on the default model (make soak)
    .venv/bin/python bench/soak.py --duration 20 --warmup 5 --model M --data D   # the short variant (CI)

Only 127.0.0.1 is loaded; the run is bounded by --duration (plus start-up and a 30 s stop).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages are beside bench/

from model.tables import iter_suffix_candidates, read_table  # noqa: E402

# Comment ids per article that the load cycles through: small, so that what the service remembers (every comment
# id it has seen, up to 5,000 per article) reaches its full size during warm-up even with 63 articles.
ID_POOL = 16
THREAD_POOL = 4  # thread requests per article, each with THREAD comments
THREAD = 8


@dataclass
class Tally:
    """What the clients saw."""

    requests: int = 0
    comments: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, after warm-up only
    warmup_requests: int = 0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--data", type=Path, default=ROOT / "data/labeled",
                        help="folder with articles.* and comments.* (texts for the requests)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load after warm-up")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of load before measuring")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--rss-tolerance", type=float, default=0.15)
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    args = parser.parse_args()
    if not (args.model / "model.joblib").exists():
        print(f"error: no model at {args.model}; train one with `moderate train --out {args.model}`", file=sys.stderr)
        return 1
    if not any(iter_suffix_candidates(args.data, "articles")) or not any(iter_suffix_candidates(args.data, "comments")):
        print(f"error: {args.data} needs articles.* and comments.* (csv, jsonl or parquet)", file=sys.stderr)
        return 1
    articles, texts = load_corpus(args.data)
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        report = soak(args, articles, texts, Path(folder))
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


def load_corpus(folder: Path) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    """Articles (id, title, body) and comment texts by article id."""
    articles_table = read_table(next(iter_suffix_candidates(folder, "articles")))
    comments_table = read_table(next(iter_suffix_candidates(folder, "comments")))
    articles = [{"id": str(r.values["article_id"]), "title": str(r.values["title"]), "body": str(r.values["body"])}
                for r in articles_table.records]
    texts: dict[str, list[str]] = {}
    for record in comments_table.records:
        text = str(record.values.get("text") or "").strip()
        if text:
            texts.setdefault(str(record.values["article_id"]), []).append(text)
    everything = [t for group in texts.values() for t in group]
    for article in articles:
        texts.setdefault(article["id"], everything)
    return articles, texts


def soak(args: argparse.Namespace, articles: list[dict[str, str]], texts: dict[str, list[str]],
         folder: Path) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATE_")}
    command = [sys.executable, "-m", "moderate.cli", "serve", "--model", str(args.model), "--port", str(port),
               "--database", str(folder / "soak.sqlite3"), "--workers", str(args.workers)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(base, server)
            for article in articles:
                answer = httpx.put(f"{base}/articles/{article['id']}", json={"title": article["title"],
                                                                             "body": article["body"]}, timeout=30)
                answer.raise_for_status()
            tally, samples = asyncio.run(load(base, server.pid, articles, texts, args))
            server_counted = classify_requests_counted(base)
        finally:
            stopped_cleanly = stop(server)
    log_text = log_path.read_text(errors="replace")
    report = summarize(args, tally, samples, server_counted, stopped_cleanly, log_text)
    if not report["passed"]:
        report["server_log_tail"] = log_text.splitlines()[-30:]
    return report


async def load(base: str, pid: int, articles: list[dict[str, str]], texts: dict[str, list[str]],
               args: argparse.Namespace) -> tuple[Tally, list[tuple[float, int]]]:
    tally = Tally()
    samples: list[tuple[float, int]] = []  # (seconds since the end of warm-up, RSS in bytes)
    counter = itertools.count()
    started = time.monotonic()
    measuring_from = started + args.warmup
    stop_at = measuring_from + args.duration
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def one_client() -> None:
            while (now := time.monotonic()) < stop_at:
                body = request_body(next(counter), articles, texts)
                expected = [c["id"] for c in body["comments"]]
                begin = time.perf_counter()
                try:
                    answer = await client.post("/classify", json=body)
                except httpx.HTTPError as error:
                    tally.error(f"{type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - begin
                tally.requests += 1
                tally.comments += len(expected)
                if now >= measuring_from:
                    tally.latencies.append(elapsed)
                else:
                    tally.warmup_requests += 1
                if answer.status_code != 200:
                    tally.error(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    continue
                results = answer.json().get("results", [])
                if [r.get("id") for r in results] != expected:
                    tally.error(f"results {[r.get('id') for r in results]} for comments {expected}")

        async def sample_memory() -> None:
            while time.monotonic() < stop_at:
                await asyncio.sleep(1.0)
                if time.monotonic() >= measuring_from:
                    samples.append((time.monotonic() - measuring_from, tree_rss(pid)))

        await asyncio.gather(sample_memory(), *(one_client() for _ in range(args.concurrency)))
    return tally, samples


def request_body(k: int, articles: list[dict[str, str]], texts: dict[str, list[str]]) -> dict[str, Any]:
    """The k-th request of the plan in the module docstring (deterministic in k)."""
    article = articles[k % len(articles)]
    pool = texts[article["id"]]
    slot = (k // len(articles)) % ID_POOL
    kind = k % 10
    reference = {"id": article["id"]}
    if kind < 9:
        inline = kind < 7
        comment = {"id": f"s{slot}", "text": pool[k % len(pool)], "parent_id": None}
        return {"article": article if inline else reference, "comments": [comment]}
    thread = slot % THREAD_POOL
    comments = [{"id": f"t{thread}-{j}", "text": pool[(k + j) % len(pool)], "parent_id": f"t{thread}-0" if j else None}
                for j in range(THREAD)]
    return {"article": reference, "comments": comments}


def summarize(args: argparse.Namespace, tally: Tally, samples: list[tuple[float, int]], server_counted: int | None,
              stopped_cleanly: bool, log_text: str) -> dict[str, Any]:
    latencies = sorted(tally.latencies)

    def percentile(p: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else None

    rss = [r for _, r in samples]
    third = max(len(rss) // 3, 1)
    first = statistics.median(rss[:third]) if rss else 0
    last = statistics.median(rss[-third:]) if rss else 0
    growth = (last / first - 1.0) if first else None
    rss_flat = growth is not None and len(rss) >= 6 and growth <= args.rss_tolerance
    traceback_in_log = "Traceback" in log_text or bool(re.search(r"^ERROR:", log_text, re.M))
    stopped_cleanly = stopped_cleanly and "Application shutdown complete" in log_text
    all_counted = server_counted == tally.requests
    report = {
        "concurrency": args.concurrency,
        "workers": args.workers,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "requests": tally.requests,
        "comments": tally.comments,
        "requests_measured": len(latencies),
        "requests_per_s": round(len(latencies) / args.duration, 1) if args.duration else None,
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "server_counted": server_counted,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "rss_samples": len(rss),
        "rss_mib_first_third": round(first / 2**20, 1),
        "rss_mib_last_third": round(last / 2**20, 1),
        "rss_mib_max": round(max(rss) / 2**20, 1) if rss else None,
        "rss_growth": round(growth, 4) if growth is not None else None,
        "rss_timeline_mib": [[round(t, 1), round(r / 2**20, 1)] for t, r in samples],
        "stopped_cleanly": stopped_cleanly,
        "traceback_in_log": traceback_in_log,
    }
    report["checks"] = {
        "zero errors": tally.errors == 0 and tally.requests > 0,
        "server counted every request": all_counted,
        f"memory flat (last third within {args.rss_tolerance:.0%} of first)": rss_flat,
        "clean stop, no traceback": stopped_cleanly and not traceback_in_log,
    }
    report["passed"] = all(report["checks"].values())
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"soak: concurrency {report['concurrency']}, {report['workers']} worker(s), "
          f"{report['warmup_s']:.0f} s warm-up + {report['duration_s']:.0f} s measured")
    print(f"  requests {report['requests']:,} ({report['comments']:,} comments), "
          f"{report['requests_per_s']} req/s measured, errors {report['errors']}, "
          f"server counted {report['server_counted']}")
    print(f"  latency p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms")
    print(f"  RSS {report['rss_mib_first_third']} MiB (first third) -> {report['rss_mib_last_third']} MiB "
          f"(last third), growth {report['rss_growth']:+.1%}, max {report['rss_mib_max']} MiB, "
          f"{report['rss_samples']} samples" if report["rss_growth"] is not None else "  RSS: no samples")
    for name, ok in report["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    for sample in report["error_samples"]:
        print(f"    error: {sample}")
    for line in report.get("server_log_tail", []):
        print(f"    server: {line}")


# -- the server -------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"error: the server exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: {base}/ready did not answer 200 within {timeout:.0f} s")


def tree_rss(pid: int) -> int:
    """Resident memory of the server and its children (worker processes), in bytes, from /proc."""
    total = 0
    for each in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(match.group(1)) * 1024 if match else 0
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found] + [g for c in found for g in children(int(c))]


def classify_requests_counted(base: str) -> int | None:
    """POST /classify requests the server counted (every status), from its Prometheus metrics."""
    try:
        text = httpx.get(f"{base}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    pattern = r'^moderate_http_requests_total\{method="POST",route="/classify",status="\d+"\} ([0-9.e+]+)$'
    return int(sum(float(m) for m in re.findall(pattern, text, re.M)))


def stop(server: subprocess.Popen[bytes]) -> bool:
    """SIGTERM and wait; True when the server stopped by itself within 30 s."""
    if server.poll() is not None:
        print(f"the server had already exited with {server.returncode}", file=sys.stderr)
        return False
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print("the server did not stop within 30 s of SIGTERM; killed", file=sys.stderr)
        server.kill()
        server.wait()
        return False
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is its normal exit status.
    if code not in (0, -signal.SIGTERM):
        print(f"the server exited with {code} after SIGTERM", file=sys.stderr)
    return code in (0, -signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
