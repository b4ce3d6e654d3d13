"""Load-test POST /classify of our service against naive endpoints, in the same run, from loopback.

Starts the servers with the same number of worker processes (ours with `moderate serve`, the naive ones
from bench/serve_naive.py under uvicorn: "naive" serves our own fitted pipeline, "tfidf" a comment-only
TfidfVectorizer + LogisticRegression fitted here on data/labeled), then drives each with wrk (a C load
generator: closed loop, one thread, N connections, so the client costs little of the two cores) for
single-comment and 50-comment requests at each concurrency. Request bodies are real comments from data/labeled
with their article inline; every comment id is unique. Reports requests/s, p50 and p99 for each server and the
ratios, and writes bench/out/serve.json.

    .venv/bin/python bench/serve_bench.py                      # 10 s per run, about 5 minutes
    .venv/bin/python bench/serve_bench.py --duration 3 --concurrency 8 --sizes 1   # a quick look

Needs wrk (`apt-get install wrk`) and a trained model (`moderate train`). Only 127.0.0.1 is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "serve_load.lua"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--data", type=Path, default=ROOT / "data/labeled")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each measured run")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--sizes", default="1,50", help="comments per request")
    parser.add_argument("--spread", default="one,all",
                        help="'one': every request under the busiest article; 'all': each comment under its own "
                             "article (63 articles)")
    parser.add_argument("--baselines", default="naive,tfidf",
                        help="naive: our fitted pipeline per request; tfidf: a comment-only TF-IDF + LR pipeline")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/serve.json")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("error: wrk not found; install it with `apt-get install wrk`", file=sys.stderr)
        return 1
    if not (args.model / "model.joblib").exists():
        print(f"error: no model at {args.model}; train one with `moderate train --out {args.model}`",
              file=sys.stderr)
        return 1
    baselines = [b for b in args.baselines.split(",") if b]
    if not baselines or set(baselines) - {"naive", "tfidf"}:
        parser.error("--baselines takes naive, tfidf or both")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    spreads = args.spread.split(",")
    articles, comments = load_corpus(args.data)

    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, "MODERATE_MODEL_PATH": str(args.model),
               "MODERATE_DATABASE_PATH": str(work / "bench.sqlite3")}
        names = ["ours", *baselines]
        ports = {name: free_port() for name in names}
        servers.append(start([str(BIN / "moderate"), "serve", "--model", str(args.model), "--host", "127.0.0.1",
                              "--port", str(ports["ours"]), "--workers", str(args.workers)], env, work / "ours.log"))
        for name in baselines:
            naive_env = dict(env)
            if name == "tfidf":
                naive_env["NAIVE_PIPELINE_PATH"] = str(fit_tfidf(comments, work / "tfidf.joblib"))
            servers.append(start([sys.executable, "-m", "uvicorn", "bench.serve_naive:create_app", "--factory",
                                  "--host", "127.0.0.1", "--port", str(ports[name]), "--workers", str(args.workers),
                                  "--no-access-log", "--log-level", "warning"], naive_env, work / f"{name}.log"))
        probe = body_line(articles, [comments[0]], "probe").encode()
        targets = {name: f"http://127.0.0.1:{ports[name]}" for name in names}
        groups = {name: server.pid for name, server in zip(names, servers, strict=True)}
        for name, url in targets.items():
            wait_until_ready(url, probe, name, work)

        rows = []
        for spread in spreads:
            for size in sizes:
                bodies_path = work / f"bodies-{spread}-{size}.jsonl"
                write_bodies(bodies_path, articles, comments, size=size, spread=spread)
                for concurrency in concurrencies:
                    # Rotate which server goes first, so none always runs on a warmer machine.
                    shift = len(rows) % len(names)
                    order = names[shift:] + names[:shift]
                    result = {}
                    for name in order:
                        tag = f"{name}{spread}{size}c{concurrency}"
                        run_wrk(targets[name], bodies_path, tag + "w", concurrency, args.warmup)
                        load_before = os.getloadavg()[0]
                        cpu_before = cpu_seconds(groups[name])
                        result[name] = run_wrk(targets[name], bodies_path, tag, concurrency, args.duration)
                        cpu = cpu_seconds(groups[name]) - cpu_before
                        result[name]["cpu_ms_per_request"] = 1e3 * cpu / max(result[name]["requests"], 1)
                        result[name]["load_before"] = load_before
                    row = {"spread": spread, "comments": size, "concurrency": concurrency, **result}
                    rows.append(row)
                    print(format_row(row), flush=True)
        report = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "workers": args.workers, "duration_s": args.duration, "cpus": os.cpu_count(), "baselines": baselines,
            "model": str(args.model), "rows": rows,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print()
        print(markdown(rows))
        print(f"\nwritten to {args.out}")
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    return 0


# -- request bodies ---------------------------------------------------------------------------------------------
def load_corpus(folder: Path) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    articles = {}
    for line in (folder / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        articles[row["article_id"]] = {"id": row["article_id"], "title": row["title"], "body": row["body"]}
    comments = [json.loads(line) for line in (folder / "comments.jsonl").read_text(encoding="utf-8").splitlines()]
    return articles, comments


def write_bodies(path: Path, articles: dict[str, dict[str, str]], comments: list[dict[str, str]], *,
                 size: int, spread: str, count: int = 400) -> None:
    """`count` request bodies of `size` comments each; 'one' puts them all under the busiest article."""
    rng = random.Random(0)
    by_article: dict[str, list[dict[str, str]]] = defaultdict(list)
    for comment in comments:
        by_article[comment["article_id"]].append(comment)
    busiest = max(by_article, key=lambda a: len(by_article[a]))
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(count):
            article_id = busiest if spread == "one" else rng.choice(sorted(by_article))
            chosen = [rng.choice(by_article[article_id]) for _ in range(size)]
            handle.write(body_line(articles, chosen, "@ID@") + "\n")


def body_line(articles: dict[str, dict[str, str]], chosen: list[dict[str, str]], request_id: str) -> str:
    article = articles[chosen[0]["article_id"]]
    return json.dumps({
        "article": article,
        "comments": [{"id": f"r{request_id}-{i}", "text": c["text"], "parent_id": None} for i, c in enumerate(chosen)],
    })


# -- servers ----------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_until_ready(url: str, probe: bytes, name: str, work: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(url + "/classify", data=probe, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    log = (work / f"{name}.log").read_text(errors="replace")[-2000:]
    raise SystemExit(f"the {name} server did not answer within {timeout:.0f} s; its log ends:\n{log}")


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by every process of a process group: a server and its workers.

    The machine may be shared, so wall-clock throughput depends on what else runs; CPU time per request
    does not, and shows what each request costs the server.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ..., utime (11), stime (12)
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def stop(server: subprocess.Popen[bytes]) -> None:
    """End a server we started (its own process group: uvicorn's worker processes too)."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# -- wrk ----------------------------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url: str, bodies: Path, tag: str, concurrency: int, duration: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "--latency",
               "-s", str(LUA), url, "--", str(bodies), tag]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, float]:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


# -- report -------------------------------------------------------------------------------------------------------
def format_row(row: dict) -> str:  # type: ignore[type-arg]
    ours = row["ours"]
    text = (f"{row['spread']:>3} article(s) {row['comments']:>2} comment(s) c={row['concurrency']:<3} "
            f"ours {ours['requests_per_s']:7.1f} req/s p50 {ours['p50_ms']:6.2f} p99 {ours['p99_ms']:7.2f} "
            f"cpu {ours['cpu_ms_per_request']:5.2f} ms err {ours['errors']}")
    for name in baselines_of(row):
        other = row[name]
        text += (f" | {name} {other['requests_per_s']:7.1f} req/s p50 {other['p50_ms']:6.2f} "
                 f"p99 {other['p99_ms']:7.2f} cpu {other['cpu_ms_per_request']:5.2f} ms err {other['errors']} "
                 f"x{ratio(row, name):.1f}")
    return text + f" (load {ours['load_before']:.1f})"


def baselines_of(row: dict) -> list[str]:  # type: ignore[type-arg]
    return [name for name in ("naive", "tfidf") if name in row]


def ratio(row: dict, name: str) -> float:  # type: ignore[type-arg]
    other = row[name]["requests_per_s"]
    return row["ours"]["requests_per_s"] / other if other else float("inf")


def markdown(rows: list[dict]) -> str:  # type: ignore[type-arg]
    names = baselines_of(rows[0]) if rows else []
    header = "| articles | comments/request | concurrency | ours req/s | ours p50 / p99 ms | ours CPU ms/req "
    rule = "|---|---:|---:|---:|---|---:"
    for name in names:
        header += f"| {name} req/s | {name} p50 / p99 ms | {name} CPU ms/req | ours ÷ {name} "
        rule += "|---:|---|---:|---:"
    lines = [header + "| errors | load avg |", rule + "|---|---:|"]
    for row in rows:
        ours = row["ours"]
        line = (f"| {row['spread']} | {row['comments']} | {row['concurrency']} | {ours['requests_per_s']:.0f} "
                f"| {ours['p50_ms']:.2f} / {ours['p99_ms']:.2f} | {ours['cpu_ms_per_request']:.2f} ")
        for name in names:
            other = row[name]
            line += (f"| {other['requests_per_s']:.0f} | {other['p50_ms']:.2f} / {other['p99_ms']:.2f} "
                     f"| {other['cpu_ms_per_request']:.2f} | {ratio(row, name):.1f}x ")
        errors = "/".join(str(row[name]["errors"]) for name in ["ours", *names])
        lines.append(line + f"| {errors} | {ours['load_before']:.1f} |")
    return "\n".join(lines)


def fit_tfidf(comments: list[dict[str, str]], path: Path) -> Path:
    """The comment-only baseline: TF-IDF + logistic regression on our corpus's texts and labels."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("classifier", LogisticRegression(max_iter=1000))])
    pipeline.fit([c["text"] for c in comments], [c["label"] for c in comments])
    joblib.dump(pipeline, path)
    return path


if __name__ == "__main__":
    sys.exit(main())
