"""Coral's external moderation phase against POST /classify, in the same run: latency at the same concurrency.

Coral waits for our answer before it publishes a comment (200 ms by default, the admin form's timeout), so the
phase must cost about what /classify costs for one comment. One `moderate serve` process with
MODERATE_CORAL_SECRET set; the articles of data/labeled stored with PUT (with their addresses); then wrk (one
thread, closed loop, N connections) loads, in turn:

    classify     POST /classify, one comment, the article by id (unique comment ids)
    coral id     POST /integrations/coral as Coral sends it (pretty-printed JSON, signed), story.id stored
    coral url    the same with a story.id we do not store: the article found by story.url

Request bodies are the comments of data/labeled (each under its own article), the same texts for every target.
Coral's bodies are signed beforehand, so a body repeats after 4,000 requests (its comment, keyed by article and
text, is then stored again: an update instead of an insert). Reports req/s, p50 / p99 and the server's CPU ms
per request, and the ratio of each Coral p99 to /classify's; writes bench/out/coral.json.

    .venv/bin/python bench/coral_bench.py                           # 10 s per run at concurrency 8
    .venv/bin/python bench/coral_bench.py --duration 3 --rounds 1   # a quick look

Needs wrk (`apt-get install wrk`) and a trained model (`moderate train`). Only 127.0.0.1 is loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.serve_bench import cpu_seconds, free_port, load_corpus, parse_wrk, start, stop  # noqa: E402

BIN = Path(sys.executable).parent
SECRET = "empsec_" + "5e" * 32
TARGETS = ("classify", "coral id", "coral url")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--data", type=Path, default=ROOT / "data/labeled")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each measured run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="runs of every target, the order rotating")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/coral.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk not found; install it with `apt-get install wrk`", file=sys.stderr)
        return 1
    if not (args.model / "model.joblib").exists():
        print(f"error: no model at {args.model}; train one with `moderate train --out {args.model}`", file=sys.stderr)
        return 1
    articles, comments = load_corpus(args.data)
    work = Path(tempfile.mkdtemp(prefix="coral-bench-"))
    port = free_port()
    env = {**os.environ, "MODERATE_CORAL_SECRET": SECRET, "MODERATE_DATABASE_PATH": str(work / "bench.sqlite3")}
    server = start([str(BIN / "moderate"), "serve", "--model", str(args.model), "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1"], env, work / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, work)
        for article in articles.values():
            put(base, article)
        files = write_bodies(work, articles, comments)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in TARGETS}
        for round_number in range(args.rounds):
            order = TARGETS[round_number % 3:] + TARGETS[:round_number % 3]
            for name in order:
                load(base, files[name], name, args.concurrency, args.warmup)
                before = cpu_seconds(server.pid)
                result = load(base, files[name], name, args.concurrency, args.duration)
                result["cpu_ms_per_request"] = 1e3 * (cpu_seconds(server.pid) - before) / max(result["requests"], 1)
                runs[name].append(result)
                print(f"round {round_number + 1} {name:>9}: {result['requests_per_s']:7.0f} req/s "
                      f"p50 {result['p50_ms']:6.2f} ms p99 {result['p99_ms']:6.2f} ms "
                      f"cpu {result['cpu_ms_per_request']:.2f} ms err {result['errors']}", flush=True)
        report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "concurrency": args.concurrency,
                  "duration_s": args.duration, "cpus": os.cpu_count(), "model": str(args.model), "runs": runs}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print()
        print(markdown(runs, args.concurrency))
        print(f"\nwritten to {args.out}")
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def story_url(article_id: str) -> str:
    return f"https://news.example/{article_id}/"


def put(base: str, article: dict[str, str]) -> None:
    body = json.dumps({"title": article["title"], "body": article["body"], "url": story_url(article["id"])})
    request = urllib.request.Request(f"{base}/articles/{article['id']}", data=body.encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status in (200, 201)


def coral_request(text: str, story_id: str, url: str, number: int) -> bytes:
    """As Coral's external.ts builds and serialises it (JSON.stringify(request, null, 2))."""
    return json.dumps({
        "action": "NEW", "comment": {"body": f"<p>{text}</p>", "parentID": None},
        "author": {"id": f"author-{number % 97}", "role": "COMMENTER"}, "story": {"id": story_id, "url": url},
        "site": {"id": "site-1"}, "tenantID": "tenant-1", "tenantDomain": "news.example",
    }, indent=2, ensure_ascii=False).encode("utf-8")


def write_bodies(work: Path, articles: dict[str, dict[str, str]], comments: list[dict[str, str]],
                 count: int = 4000) -> dict[str, Path]:
    chosen = random.Random(0).sample(comments, min(count, len(comments)))
    files = {name: work / f"{name.replace(' ', '-')}.lines" for name in TARGETS}
    with files["classify"].open("w", encoding="utf-8") as classify, \
            files["coral id"].open("w", encoding="utf-8") as by_id, \
            files["coral url"].open("w", encoding="utf-8") as by_url:
        for number, comment in enumerate(chosen):
            article_id = comment["article_id"]
            classify.write(json.dumps({"article": {"id": article_id},
                                       "comments": [{"id": "r@ID@", "text": comment["text"]}]}) + "\n")
            for handle, story_id in ((by_id, article_id), (by_url, f"coral-{number}")):
                body = coral_request(comment["text"], story_id, story_url(article_id), number)
                signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                handle.write(signature + "\t" + body.decode("utf-8").replace("\n", "\x01") + "\n")
    return files


def load(base: str, bodies: Path, name: str, concurrency: int, duration: int) -> dict[str, float]:
    script = ROOT / "bench" / ("serve_load.lua" if name == "classify" else "coral_load.lua")
    extra = [name.replace(" ", "") + str(duration)] if name == "classify" else []
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "--latency", "-s",
               str(script), base, "--", str(bodies), *extra]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    return parse_wrk(output)


def wait_ready(base: str, work: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    log = (work / "server.log").read_text(errors="replace")[-2000:]
    raise SystemExit(f"the server did not get ready within {timeout:.0f} s; its log ends:\n{log}")


def markdown(runs: dict[str, list[dict[str, float]]], concurrency: int) -> str:
    lines = [f"| target (concurrency {concurrency}) | req/s | p50 ms | p99 ms | CPU ms/req | p99 ÷ /classify's "
             "| errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    baseline = [run["p99_ms"] for run in runs["classify"]]
    for name, results in runs.items():
        for number, result in enumerate(results):
            ratio = result["p99_ms"] / baseline[number] if baseline[number] else float("nan")
            lines.append(f"| {name} (run {number + 1}) | {result['requests_per_s']:,.0f} | {result['p50_ms']:.2f} "
                         f"| {result['p99_ms']:.2f} | {result['cpu_ms_per_request']:.2f} | {ratio:.2f}x "
                         f"| {result['errors']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
