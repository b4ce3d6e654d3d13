"""The short variant of the load/soak run (bench/soak.py): concurrency 64 for 20 s against a real server.

Asserts correctness only (the machine is shared, so speed is reported, never judged): every answer right, every
request counted by the server, memory flat after warm-up, a clean stop. The long run is `make soak` (5 minutes
on the default model); docs/reliability.md has its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import clean_environment


def test_concurrency_64_on_loopback_holds_with_zero_errors_and_flat_memory(
    tmp_path: Path, tiny_bundle_dir: Path, tiny_corpus_dir: Path
) -> None:
    report_path = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "soak.py"), "--model", str(tiny_bundle_dir),
         "--data", str(tiny_corpus_dir), "--concurrency", "64", "--warmup", "5", "--duration", "15",
         "--json", str(report_path)],
        cwd=PROJECT_ROOT, env=clean_environment(), capture_output=True, text=True, timeout=240, check=False,
    )
    assert report_path.exists(), run.stdout + run.stderr
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0, report["error_samples"]
    assert report["requests"] > 64  # every client got answers, more than once
    assert report["server_counted"] == report["requests"]
    assert report["p99_ms"] is not None and report["p99_ms"] >= report["p50_ms"] > 0
    assert report["rss_samples"] >= 6 and report["rss_growth"] <= 0.15, report["rss_timeline_mib"]
    assert report["stopped_cleanly"] and not report["traceback_in_log"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "zero errors" in run.stdout and "FAIL" not in run.stdout
