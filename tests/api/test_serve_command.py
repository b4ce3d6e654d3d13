"""`moderate serve` really serves: a server process on a free loopback port, reloaded by SIGHUP, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import BUDGET, COMMENTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited early"
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_serve_answers_reloads_on_sighup_and_stops_on_sigterm(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "moderate.cli", "serve", "--model", str(tiny_bundle_dir), "--port", str(port),
         "--database", str(tmp_path / "db.sqlite3")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(f"{base}/ready", server).status_code == 200
        answer = httpx.post(f"{base}/classify", json={"article": BUDGET, "comments": COMMENTS}, timeout=10.0)
        assert answer.status_code == 200
        assert [r["id"] for r in answer.json()["results"]] == [c["id"] for c in COMMENTS]
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while 'moderate_model_reloads_total{outcome="loaded"} 1.0' not in httpx.get(f"{base}/metrics").text:
            assert time.monotonic() < deadline, "SIGHUP did not reload the model"
            time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Application shutdown complete" in output
    assert "model reloaded" in output
