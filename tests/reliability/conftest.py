"""Shared pieces of the reliability suite: how long the long-running tests run, and a server started for real.

Every knob has a short default (what `make test` runs) and an environment variable for the long variant;
docs/reliability.md lists the long commands.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import PROJECT_ROOT


def fuzz_examples() -> int:
    """Generated requests per endpoint and mode for the schema fuzz (RELIABILITY_FUZZ_EXAMPLES, default 25)."""
    return int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "25"))


def property_examples() -> int:
    """Examples per property test of the readers (RELIABILITY_PROPERTY_EXAMPLES, default 60)."""
    return int(os.environ.get("RELIABILITY_PROPERTY_EXAMPLES", "60"))


def derandomized() -> bool:
    """The short variants try the same examples every run (CI stays deterministic); a long run explores."""
    return "RELIABILITY_FUZZ_EXAMPLES" not in os.environ and "RELIABILITY_PROPERTY_EXAMPLES" not in os.environ


_opened: list[str] | None = None  # paths opened while `files_opened` is active
_hooked = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


@contextmanager
def files_opened() -> Iterator[list[str]]:
    """Every path this process opens inside the block, from the interpreter's audit events (threads included).

    An audit hook cannot be removed, so one is installed on first use and does nothing outside the block.
    """
    global _opened, _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    _opened = seen = []
    try:
        yield seen
    finally:
        _opened = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without MODERATE_* settings, so a child server reads only what we pass."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MODERATE_")}


@contextmanager
def running_server(model: Path, database: Path, *, env: dict[str, str] | None = None, timeout: float = 60.0,
                   extra_args: tuple[str, ...] = ()) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`moderate serve` on a free loopback port, ready (or at least answering /health); stopped at the end."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = database.with_suffix(".log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moderate.cli", "serve", "--model", str(model), "--port", str(port),
         "--database", str(database), *extra_args],
        cwd=PROJECT_ROOT, env={**clean_environment(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise AssertionError(f"the server exited early with {server.returncode}")
            try:
                httpx.get(f"{base}/health", timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{base}/health did not answer within {timeout} s") from None
                time.sleep(0.2)
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
