"""Two workers answer as one: the same mixed run against `moderate serve --workers 2` and `--workers 1`.

    .venv/bin/python bench/two_workers.py [--model model/artifacts/default] [--articles 24] [--json out.json]

The run, from the threads of data/labeled: for each article, PUT it; classify its top-level comments; then
its replies, each in its own request on a new connection (so the kernel hands consecutive requests, a reply
and its parent, to either worker); every fourth article is DELETEd and PUT again half-way and its later
comments sent again; one POST /admin/reload in the middle. The same requests, in the same order, go to a
server with two workers and to one with one worker, each on a fresh database.

It reports 5xx answers, replies refused as "unknown parent" although the service had answered their parent
(and no DELETE came between), and answers that differ between the two servers (label, largest score
difference). Bounded: a few hundred requests, and it stops after --budget seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.hostile_cost import wait_ready  # noqa: E402
from bench.serve_bench import free_port, start, stop  # noqa: E402

Step = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


def script(corpus: Path, n_articles: int, per_article: int) -> list[Step]:
    """The requests of the run, in order (see the module docstring)."""
    articles = [json.loads(line) for line in (corpus / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    comments = [json.loads(line) for line in (corpus / "comments.jsonl").read_text(encoding="utf-8").splitlines()]
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for comment in comments:
        by_article[comment["article_id"]].append(comment)
    steps: list[Step] = []
    chosen = articles[:: max(1, len(articles) // n_articles)][:n_articles]
    for index, article in enumerate(chosen):
        key = article["article_id"]
        steps.append(("PUT", f"/articles/{key}", {"title": article["title"], "body": article["body"]}))
        thread = by_article[key][:per_article]
        kept = {c["comment_id"] for c in thread}
        top = [c for c in thread if not c["parent_id"]]
        replies = [c for c in thread if c["parent_id"] and c["parent_id"] in kept]
        steps.append(("POST", "/classify", {"article": {"id": key},
                                             "comments": [_comment(c) for c in top]}))
        for n, reply in enumerate(replies):
            steps.append(("POST", "/classify", {"article": {"id": key}, "comments": [_comment(reply)]}))
            if index % 4 == 3 and n == len(replies) // 2:
                steps.append(("DELETE", f"/articles/{key}", None))
                steps.append(("PUT", f"/articles/{key}", {"title": article["title"], "body": article["body"]}))
                steps.append(("POST", "/classify", {"article": {"id": key},
                                                     "comments": [_comment(c) for c in top]}))
        if index == len(chosen) // 2:
            steps.append(("POST", "/admin/reload", None))
    return steps


def _comment(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["comment_id"], "text": row["text"], "parent_id": row["parent_id"] or None}


def run(base: str, steps: list[Step], deadline: float) -> list[dict[str, Any]]:
    """Send every step on a new connection; the status and, for /classify, the results."""
    answers = []
    for method, path, body in steps:
        if time.monotonic() > deadline:
            break
        with httpx.Client(base_url=base, timeout=60, headers={"Connection": "close"}) as client:
            response = client.request(method, path, json=body)
        answer: dict[str, Any] = {"method": method, "path": path, "status": response.status_code}
        if path == "/classify":
            payload = response.json()
            answer["results"] = payload.get("results")
            answer["detail"] = payload.get("detail")
        answers.append(answer)
    return answers


def compare(steps: list[Step], two: list[dict[str, Any]], one: list[dict[str, Any]]) -> dict[str, Any]:
    """What the issue asks of the run: no 5xx, no unknown parent the service had seen, one worker's answers."""
    server_errors = sum(a["status"] >= 500 for a in two)
    answered: set[tuple[str, str]] = set()
    unknown_seen = differing_labels = compared = 0
    largest = 0.0
    for (method, path, body), a, b in zip(steps, two, one, strict=False):
        if method == "DELETE":
            key = path.rsplit("/", 1)[-1]
            answered = {pair for pair in answered if pair[0] != key}
        if path != "/classify" or body is None:
            continue
        key = body["article"]["id"]
        refused = a["status"] == 422 and "unknown parent" in (a["detail"] or "")
        if refused and any((key, c["parent_id"]) in answered for c in body["comments"] if c["parent_id"]):
            unknown_seen += 1
        if a["status"] == 200:
            answered.update((key, c["id"]) for c in body["comments"])
        if a["status"] == 200 and b["status"] == 200:
            for x, y in zip(a["results"], b["results"], strict=True):
                compared += 1
                differing_labels += x["label"] != y["label"]
                largest = max(largest, *(abs(x["scores"][k] - y["scores"][k]) for k in x["scores"]))
    return {"requests": len(two), "5xx (two workers)": server_errors, "5xx (one worker)": sum(b["status"] >= 500
            for b in one), "unknown parent although answered": unknown_seen, "comments compared": compared,
            "labels that differ": differing_labels, "largest score difference": round(largest, 6),
            "status codes that differ": sum(a["status"] != b["status"] for a, b in zip(two, one, strict=False))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data/labeled")
    parser.add_argument("--articles", type=int, default=24)
    parser.add_argument("--per-article", type=int, default=20)
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for each server's run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    steps = script(args.corpus, args.articles, args.per_article)
    answers = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATE_")}
    for workers in (2, 1):
        with tempfile.TemporaryDirectory(prefix="two-workers-") as folder:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = Path(folder) / "server.log"
            server = start([sys.executable, "-m", "moderate.cli", "serve", "--model", str(args.model), "--host",
                            "127.0.0.1", "--port", str(port), "--workers", str(workers), "--database",
                            str(Path(folder) / "bench.sqlite3")], env, log)
            try:
                wait_ready(base, log)
                started = time.monotonic()
                answers[workers] = run(base, steps, started + args.budget)
                print(f"--workers {workers}: {len(answers[workers])} requests in {time.monotonic() - started:.1f} s",
                      flush=True)
            finally:
                stop(server)
    summary = compare(steps, answers[2], answers[1])
    print("\n| measure | value |\n|---|---|")
    for name, value in summary.items():
        print(f"| {name} | {value} |")
    print(f"\n{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "summary": summary}, indent=2))
    return 0 if summary["5xx (two workers)"] == 0 and summary["unknown parent although answered"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
