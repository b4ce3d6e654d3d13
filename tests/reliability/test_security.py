"""Security: the API key, the body-size limit, request paths and ids, and model files that must never be unpickled.

XML bombs and external entities are in test_hostile_input.py; the dependency audit is `make audit`
(tests/reliability/pip_audit_step.py, tested in test_pip_audit_step.py).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import os
import pickle
import shutil
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import api.middleware
from api.app import create_app
from api.settings import Settings
from model.bundle import ModelBundle
from model.errors import BundleIntegrityError
from moderate.cli import app as cli
from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import files_opened, running_server

API_KEY = "s3cret-key-for-tests-0123456789"
ARTICLE = {"id": "budget", "title": "Council passes city budget", "body": "Taxes rise 3 percent."}


def client_for(tmp_path: Path, model: Path, **overrides: Any) -> TestClient:
    settings = Settings(model_path=model, database_path=tmp_path / "db.sqlite3", reload_poll_seconds=0, **overrides)
    return TestClient(create_app(settings))


# -- the API key ------------------------------------------------------------------------------------------
def test_the_api_key_is_compared_in_constant_time(
    tmp_path: Path, tiny_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(api.middleware, "hmac", SimpleNamespace(compare_digest=compare_digest))
    candidates = ["wrong", API_KEY[:-1], API_KEY + "x", "", API_KEY]
    with client_for(tmp_path, tiny_bundle_dir, api_key=API_KEY) as client:
        answers = [client.get("/ready", headers={"X-API-Key": key}).status_code for key in candidates]
        answers.append(client.get("/ready", headers={"Authorization": f"Bearer {API_KEY}"}).status_code)
    assert answers == [401, 401, 401, 401, 200, 200]
    # Every candidate, even an empty one, went through hmac.compare_digest against the key.
    assert [a for a, _ in compared] == [k.encode() for k in candidates] + [API_KEY.encode()]
    assert {b for _, b in compared} == {API_KEY.encode()}


def test_no_code_in_api_compares_the_key_with_an_ordinary_comparison() -> None:
    """A `==`, `!=` or `in` whose operand names the key would leak its prefix through timing."""
    offenders = []
    for path in (PROJECT_ROOT / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Compare) and any(
                isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
            ):
                names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                         for n in ast.walk(node) if isinstance(n, ast.Attribute | ast.Name)}
                if {"api_key", "candidate"} & names:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


# -- request size -----------------------------------------------------------------------------------------
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Any:
    folder = tmp_path_factory.mktemp("limits")
    env = {"MODERATE_MAX_BODY_BYTES": str(LIMIT), "MODERATE_RELOAD_POLL_SECONDS": "0"}
    with running_server(tiny_bundle_dir, folder / "db.sqlite3", env=env) as (base, server):
        yield base, server


def raw_exchange(base: str, head: bytes, body_chunks: list[bytes] = (), timeout: float = 10.0) -> bytes:  # type: ignore[assignment]
    """Send raw bytes to the server and return what comes back before it closes or goes quiet."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what matters is what it answered
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer and answer.split(b"\r\n\r\n", 1)[1].count(b"}") >= 1:
                break
    return answer


def post_head(content_length: int | None, extra: str = "") -> bytes:
    length = f"Content-Length: {content_length}\r\n" if content_length is not None else ""
    return (f"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{length}{extra}"
            "\r\n").encode()


def test_a_declared_oversize_body_is_refused_before_it_is_sent(small_limit_server: Any) -> None:
    base, _ = small_limit_server
    started = time.monotonic()
    answer = raw_exchange(base, post_head(10**12))  # no body follows: only the header claims a terabyte
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert f"larger than {LIMIT} bytes".encode() in answer
    assert time.monotonic() - started < 5, "the server waited for a body it should never have read"


def test_a_body_that_lies_about_its_length_cannot_get_past_the_limit(small_limit_server: Any) -> None:
    base, server = small_limit_server
    huge = b'{"article": {"id": "a"}, "comments": [' + b'{"id": "x", "text": "spam"},' * 400_000 + b"]}"
    # Claims 40 bytes, sends 11 MB: the server reads 40 bytes as the body (invalid JSON), not 11 MB.
    answer = raw_exchange(base, post_head(40), [huge[i:i + 65536] for i in range(0, len(huge), 65536)])
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # No Content-Length at all (chunked): counted as it arrives and cut off at the limit.
    chunks = [f"{len(huge[i:i + 8192]):x}\r\n".encode() + huge[i:i + 8192] + b"\r\n"
              for i in range(0, 2 * LIMIT, 8192)]
    answer = raw_exchange(base, post_head(None, "Transfer-Encoding: chunked\r\n"), chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"field":"body"' in answer
    # A body just over the limit with an honest Content-Length.
    over = httpx.post(f"{base}/classify", content=huge[: LIMIT + 1], headers={"Content-Type": "application/json"})
    assert over.status_code == 413 and over.json()["field"] == "body"
    # ...and the server is still well.
    assert server.poll() is None
    assert httpx.get(f"{base}/health").status_code == 200
    good = httpx.post(f"{base}/classify", json={"article": ARTICLE, "comments": [{"id": "c1", "text": "Taxes!"}]})
    assert good.status_code == 200


def test_an_idle_keep_alive_connection_outlives_uvicorns_5_s_default(small_limit_server: Any) -> None:
    """A client that reuses a connection the server has just closed loses its request (the soak saw it)."""
    base, _ = small_limit_server
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    host, port = base.removeprefix("http://").split(":")

    def health(sock: socket.socket) -> bytes:
        sock.sendall(request)
        answer = b""
        while b'{"status":"ok"}' not in answer and (data := sock.recv(65536)):
            answer += data
        return answer

    with socket.create_connection((host, int(port)), timeout=10) as sock:
        assert health(sock).startswith(b"HTTP/1.1 200")
        time.sleep(6.5)
        assert health(sock).startswith(b"HTTP/1.1 200")


# -- request paths and ids --------------------------------------------------------------------------------
HOSTILE_IDS = ["../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "~root/.ssh/id_rsa", "${HOME}",
               "%2e%2e%2fetc%2fpasswd", "file:///etc/passwd", "..", "."]


def test_no_request_path_or_id_reaches_the_filesystem(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    with client_for(tmp_path, tiny_bundle_dir) as client, files_opened() as opened:
        for article_id in HOSTILE_IDS:
            body = {"article": {"id": article_id, "title": "Budget", "body": "Taxes."},
                    "comments": [{"id": article_id, "text": "Taxes again."},
                                 {"id": "reply", "text": "Agreed.", "parent_id": article_id}]}
            answer = client.post("/classify", json=body)
            assert answer.status_code == 200, answer.text
            assert [r["id"] for r in answer.json()["results"]] == [article_id, "reply"]
            stored = client.post("/classify", json={"article": {"id": article_id, "title": "Budget", "body": "Taxes."},
                                                    "comments": [{"id": "later", "text": "Taxes.",
                                                                  "parent_id": article_id}]})
            assert stored.status_code == 200, stored.text
        # A NUL is no longer an id at all (issue 15): refused before anything is looked up or stored.
        refused = client.post("/classify", json={"article": {"id": "a\x00b", "title": "Budget", "body": "Taxes."},
                                                 "comments": [{"id": "c", "text": "Taxes again."}]})
        assert refused.status_code == 422 and refused.json()["field"] == "article.id", refused.text
        for raw in ["/articles/..%2F..%2Fetc%2Fpasswd", "/articles/%2E%2E%2Fsecret", "/../../etc/passwd",
                    "/articles/%2Fetc%2Fpasswd", "/static/../../etc/passwd", "/docs/../../etc/passwd"]:
            answer = client.get(raw)
            assert answer.status_code in (404, 405), (raw, answer.status_code)
            assert "root:" not in answer.text
        # Ids that fit in one path segment are just ids ("." and ".." never arrive: clients resolve them).
        for article_id, path in [("...", "..."), ("~root", "~root"), ("..\\x", "..%5Cx")]:
            put = client.put(f"/articles/{path}", json={"title": "T", "body": "B"})
            assert put.status_code in (200, 201) and put.json()["id"] == article_id, put.text
        # The model path comes from the settings only: a body cannot point a reload elsewhere.
        assert client.post("/admin/reload", json={"model_path": "/etc"}).status_code == 200
    touched = [p for p in opened if any(part in p for part in ("passwd", "win.ini", "id_rsa", "/etc", "secret"))]
    assert touched == []


# -- model files that must not be unpickled ---------------------------------------------------------------
class MakesAMarker:
    """A pickle whose loading creates a folder: proof that it was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def booby_trapped_bundle(folder: Path, good: Path, marker: Path, *, hash_matches: bool,
                         sklearn: str | None = None) -> Path:
    shutil.copytree(good, folder)
    model = folder / "model.joblib"
    model.write_bytes(pickle.dumps(MakesAMarker(marker)))
    metadata = json.loads((folder / "metadata.json").read_text())
    if hash_matches:
        metadata["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    if sklearn is not None:
        metadata["library_versions"]["scikit-learn"] = sklearn
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def test_the_trap_works_when_the_hash_matches(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    """The control: with a matching hash the pickle is loaded, and loading it does create the marker."""
    marker = tmp_path / "unpickled"
    bundle = booby_trapped_bundle(tmp_path / "bundle", tiny_bundle_dir, marker, hash_matches=True)
    with pytest.raises(BundleIntegrityError, match="not a model bundle"):
        ModelBundle.load(bundle)
    assert marker.exists()


@pytest.mark.parametrize("fault", ["wrong hash", "other scikit-learn"])
def test_a_model_file_that_fails_its_checks_is_never_unpickled(tmp_path: Path, tiny_bundle_dir: Path,
                                                               fault: str) -> None:
    marker = tmp_path / "unpickled"
    bundle = booby_trapped_bundle(tmp_path / "bundle", tiny_bundle_dir, marker,
                                  hash_matches=fault != "wrong hash",
                                  sklearn="0.24.2" if fault == "other scikit-learn" else None)
    with pytest.raises(BundleIntegrityError):
        ModelBundle.load(bundle)
    # Through the service: at start-up and on a reload.
    good = tmp_path / "serving"
    shutil.copytree(tiny_bundle_dir, good)
    with client_for(tmp_path, good) as client:
        assert client.get("/ready").status_code == 200
        shutil.rmtree(good)
        shutil.copytree(bundle, good)
        reload = client.post("/admin/reload")
        assert reload.status_code == 409 and "still serving" in reload.json()["detail"]
        assert client.get("/ready").status_code == 200  # the old model keeps serving
    with client_for(tmp_path, bundle) as client:
        assert client.get("/ready").status_code == 503
    # Through batch scoring.
    dump = tmp_path / "comments.csv"
    dump.write_text("comment_id,article_id,text\nc1,a1,hello\n")
    result = CliRunner().invoke(cli, ["score", str(dump), "--model", str(bundle), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "error:" in result.stderr
    assert not marker.exists(), "the model file was unpickled"
