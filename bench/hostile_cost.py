"""The worst CPU time per POST /classify we can find within the default limits, beside a normal request.

    .venv/bin/python bench/hostile_cost.py                         # about 2 minutes on the default model
    .venv/bin/python bench/hostile_cost.py --model M --sizes 1,16 --top 2 --budget 60   # a quick look

Searches families of hostile comment texts (issue 15, finding 2): runs of digits, separators and look-alike
letters that kept a backtracking regex engine busy for seconds, texts with a match every few characters, long
runs of digits with and without a unit after them, the three texts of the issue, and `--random` seeded mixes of
the same pieces; each at the longest text the service takes (MODERATE_MAX_COMMENT_CHARS, 20,000). Every
candidate is first classified in this process by the bundle (one comment; CPU time). Then, against a real
`moderate serve` on 127.0.0.1: a typical comment; normal requests (real comments of data/labeled joined to the
same length) of each of `--sizes` comments (1; 16, the most the service classifies on its event loop; 255 and
256, either side of the batch path; the default limit is 256); the issue's three texts, one per request, and two
of them in one request; and the `--top` costliest candidates at each of `--sizes`. For each request: the
server's CPU time (its process group, from /proc: the machine may be shared, and CPU time is what the request
cost; sent again until a second has passed, /proc counts in 10 ms ticks), the wall time, and the latency of
GET /health polled every 20 ms while the same request is sent once more (what another client waits).
Comments are not remembered (`remember: false`) and each request has its own article, so no request's cost
depends on another's.

Bounded: `--budget` seconds of requests at most (checked before each), `--top` candidates, a 300 s timeout per
request; the server is stopped at the end. Only 127.0.0.1 is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages are beside bench/

from api.settings import Settings  # noqa: E402
from bench.serve_bench import cpu_seconds, free_port, start, stop  # noqa: E402
from model.bundle import ModelBundle  # noqa: E402
from model.errors import ClassifyError  # noqa: E402
from model.types import Article, Comment  # noqa: E402

ARTICLE = {"title": "Council passes city budget after long night",
           "body": "The city council voted 5-2 on Tuesday to pass a $310 million budget that raises property taxes "
                   "by 3 percent, adds twelve police officers and cuts library hours on Sundays."}

# Pieces around each cue pattern: what it matches, what it reads through, and near misses.
UNITS = [
    "1", "0", "1,000.", "1,000", "1,111 ", "1,", "1.", "$1", "1$", "1k ", "5 usd ", "O", "lOSI0 ", "1 (2) 3-4.5 ",
    "+1 ", "a-", "www.", "ab.com ", "ab dot com ", "http://", "dm ", "@gmaildm", "call me ", "a day per hour ",
    "one two three ", "one ", " ", "aaaa ", "!?!?", "c4sh ", "a ", "😀", "☀", "!", "é", "K",
]


def families(length: int, seed: int, extra: int) -> dict[str, str]:
    """name -> text of exactly `length` characters."""

    def fill(unit: str, n: int = length) -> str:
        return (unit * (n // len(unit) + 1))[:n]

    texts = {
        "1,111 then 1s (issue)": "1,111 " + "1" * (length - 6),
        "1234567 then Os (issue)": "1234567 " + "O" * (length - 8),
        "x.com then a-a- (issue)": "x.com " + fill("a-", length - 6),
    }
    texts.update({f"{unit!r} repeated": fill(unit) for unit in UNITS})
    for prefix in ("1,111 ", "1234567 ", "x.com ", "1k ", "$", "one two three "):
        for unit in ("1", "O", "a-", "1,000.", " ", "1 "):
            texts[f"{prefix!r} then {unit!r}"] = prefix + fill(unit, length - len(prefix))
    for unit in ("1,000.", "1", "O", "$1", "😀"):
        texts[f"{unit!r} then ' 1k'"] = fill(unit, length - 3) + " 1k"
        texts[f"{unit!r} then a long run"] = fill(unit, length - 100) + " " + fill("1,000.", 99)
    rng = random.Random(seed)
    for k in range(extra):
        pieces = rng.sample(UNITS, rng.randint(2, 3))
        block = "".join(piece * rng.choice((1, 3, 11, 64)) for piece in pieces)
        texts[f"mix {k}: {'+'.join(map(repr, pieces))}"] = fill(block)
    return texts


def normal_text(comments: list[str], length: int, seed: int) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(comments))
    return " ".join(words)[:length]


def rank(bundle: ModelBundle, texts: dict[str, str]) -> list[tuple[float, str]]:
    """(CPU seconds to classify the text alone in this process, name), costliest first; texts the service
    refuses (empty once normalised: a 422 that costs nothing) are left out."""
    article = Article(id="rank", **ARTICLE)
    costs = []
    for name, text in texts.items():
        comments = [Comment("c", text, None)]
        try:
            bundle.classify(article, comments)  # warm: the first call compiles what it needs
        except ClassifyError:
            continue
        started = time.process_time()
        bundle.classify(article, comments)
        costs.append((time.process_time() - started, name))
    return sorted(costs, reverse=True)


@dataclass
class Poller:
    """GET /health every `interval` seconds on its own connection, until stopped; (sent at, latency) each."""

    base: str
    interval: float = 0.02
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=300) as client:
            while not self._stop.is_set():
                sent = time.perf_counter()
                client.get(self.base + "/health").raise_for_status()
                self.samples.append((sent, time.perf_counter() - sent))
                self._stop.wait(self.interval)

    def __enter__(self) -> Poller:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        time.sleep(self.interval * 3)  # its connection is open before the request goes
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=300)


def send(client: httpx.Client, base: str, texts: list[str], count: int, tag: str) -> float:
    """POST /classify with `count` comments, their texts taken in turn from `texts`; the wall seconds. Raises
    on anything but a 200 with one result per comment."""
    body = {"article": {"id": f"hostile-{tag}", **ARTICLE}, "remember": False,
            "comments": [{"id": f"{tag}-{i}", "text": texts[i % len(texts)], "parent_id": None}
                         for i in range(count)]}
    started = time.perf_counter()
    response = client.post(base + "/classify", json=body)
    wall = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{tag}: status {response.status_code}: {response.text[:300]}")
    if len(response.json()["results"]) != count:
        raise SystemExit(f"{tag}: {count} comments sent, {len(response.json()['results'])} results")
    return wall


def measure(client: httpx.Client, base: str, group: int, texts: list[str], count: int,
            tag: str) -> dict[str, float]:
    """Server CPU and wall time per request, then /health latencies while it is sent once more."""
    cpu = wall = 0.0
    repeats = 0
    while repeats < 50 and (repeats == 0 or wall < 1.0):
        before = cpu_seconds(group)
        wall += send(client, base, texts, count, f"{tag}c{repeats}")
        cpu += cpu_seconds(group) - before
        repeats += 1
    with Poller(base) as poller:
        started = time.perf_counter()
        send(client, base, texts, count, tag + "p")
        ended = time.perf_counter()
    during = [latency for sent, latency in poller.samples if started <= sent + latency and sent <= ended]
    return {"cpu_ms": cpu / repeats * 1e3, "wall_ms": wall / repeats * 1e3, "repeats": repeats,
            "health_max_ms": max(during, default=float("nan")) * 1e3,
            "health_p50_ms": (statistics.median(during) if during else float("nan")) * 1e3, "polls": len(during)}


def main() -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--comments", type=Path, default=ROOT / "data/labeled/comments.jsonl",
                        help="real comments (JSON Lines with a text field) for the normal requests")
    parser.add_argument("--sizes", default=f"1,16,{defaults.max_comments - 1},{defaults.max_comments}",
                        help="comments per request")
    parser.add_argument("--top", type=int, default=3, help="costliest candidates sent to the server")
    parser.add_argument("--random", type=int, default=40, help="seeded random mixes added to the families")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of requests at most")
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args()
    if not (args.model / "model.joblib").exists():
        print(f"error: no model at {args.model}; train one with `moderate train --out {args.model}`", file=sys.stderr)
        return 1
    sizes = [int(size) for size in args.sizes.split(",")]
    if not sizes or min(sizes) < 1 or max(sizes) > defaults.max_comments:
        parser.error(f"--sizes takes comment counts from 1 to {defaults.max_comments} (the default limit)")
    length = defaults.max_comment_chars
    corpus = [json.loads(line)["text"] for line in args.comments.read_text(encoding="utf-8").splitlines() if line]
    typical = statistics.median_low(sorted(corpus, key=len))

    bundle = ModelBundle.load(args.model)
    candidates = families(length, args.seed, args.random)
    ranked = rank(bundle, candidates)
    normal = normal_text(corpus, length, args.seed)
    normal_cost = rank(bundle, {"normal": normal})[0][0]
    print(f"{len(candidates)} candidate texts of {length:,} characters ({len(ranked)} not refused), each "
          f"classified alone in this process; the costliest, in CPU ms (a normal text: {normal_cost * 1e3:.1f}):")
    for cost, name in ranked[:10]:
        print(f"  {cost * 1e3:7.1f}  {name}")
    issue = [name for name in candidates if name.endswith("(issue)")]
    cases: list[tuple[str, list[str], list[int]]] = [("typical comment", [typical], [1]), ("normal", [normal], sizes)]
    cases += [(name, [candidates[name]], [1]) for name in issue]
    cases.append(("the first two issue texts in one request", [candidates[name] for name in issue[:2]], [2]))
    cases += [(name, [candidates[name]], sizes) for _, name in ranked[: args.top]]

    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-cost-") as folder:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATE_")}
        server = start([sys.executable, "-m", "moderate.cli", "serve", "--model", str(args.model), "--host",
                        "127.0.0.1", "--port", str(port), "--database", str(Path(folder) / "bench.sqlite3")],
                       env, Path(folder) / "server.log")
        try:
            wait_ready(base, Path(folder) / "server.log")
            deadline = time.monotonic() + args.budget
            with httpx.Client(timeout=300) as client:
                send(client, base, [typical], 1, "warm")
                for k, (name, texts, counts) in enumerate(cases):
                    for count in counts:
                        if time.monotonic() > deadline:
                            print(f"budget of {args.budget:.0f} s spent: stopping before {name} x{count}")
                            break
                        row = {"case": name, "comments": count, "chars": max(map(len, texts)),
                               **measure(client, base, server.pid, texts, count, f"{k}-{count}")}
                        rows.append(row)
                        print(format_row(row), flush=True)
        finally:
            stop(server)
    print()
    print(markdown(rows))
    print(f"\n{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                         "cpus": os.cpu_count(), "rows": rows}, indent=2))
    return 0


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def wait_ready(base: str, log: Path, timeout: float = 90.0) -> None:
    def ready() -> bool:
        try:
            return httpx.get(base + "/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    if not wait_until(ready, timeout):
        raise SystemExit(f"the server did not get ready within {timeout:.0f} s; its log ends:\n"
                         f"{log.read_text(errors='replace')[-2000:]}")


def format_row(row: dict) -> str:  # type: ignore[type-arg]
    return (f"{row['case'][:44]:44s} x{row['comments']:<4d} cpu {row['cpu_ms']:9.1f} ms  wall {row['wall_ms']:9.1f} ms"
            f" ({row['repeats']} sent)  /health max {row['health_max_ms']:8.1f} ms p50 {row['health_p50_ms']:6.1f} ms"
            f" ({row['polls']} polls)")


def markdown(rows: list[dict]) -> str:  # type: ignore[type-arg]
    normal = {row["comments"]: row["cpu_ms"] for row in rows if row["case"] == "normal"}
    lines = ["| request | comments × chars | server CPU ms | ÷ normal | wall ms | /health meanwhile: max / p50 ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratio = f"{row['cpu_ms'] / normal[row['comments']]:.2f}" if row["comments"] in normal else "–"
        health = (f"{row['health_max_ms']:.1f} / {row['health_p50_ms']:.1f}" if row["polls"] else "– (no poll)")
        lines.append(f"| {row['case']} | {row['comments']} × {row['chars']:,} | {row['cpu_ms']:.1f} | {ratio} "
                     f"| {row['wall_ms']:.1f} | {health} |")
    hostile = [row for row in rows if row["case"] not in ("normal", "typical comment")]  # the search's finds
    if hostile:
        worst = max(hostile, key=lambda row: row["cpu_ms"])
        lines.append(f"\nworst found: {worst['case']} × {worst['comments']}: {worst['cpu_ms']:.0f} ms of server CPU "
                     f"({worst['cpu_ms'] / normal.get(worst['comments'], float('nan')):.2f}× the normal request "
                     f"of the same size)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
