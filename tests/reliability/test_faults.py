"""Faults: a damaged or foreign model, a database or output folder that cannot be written, a disk that fills up
during batch output, a batch job killed with SIGKILL halfway. Each ends with one clear message, and a job
resumed after the fault writes exactly what an uninterrupted job writes.

Read-only folders and a full disk are real where this runs as root: each such test runs its command in a
private mount namespace (`unshare -m`) on a tmpfs of its own, which vanishes with the command. Without root,
a folder without write permission stands in for a read-only one and a file-size limit (RLIMIT_FSIZE) for a full
disk.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import Settings
from moderate.cli import app
from tests.conftest import PROJECT_ROOT, TINY_ARTICLES, TINY_COMMENTS
from tests.reliability.conftest import clean_environment, free_port

PYTHON = sys.executable
COLUMNS = ["comment_id", "article_id", "parent_id", "text"]


# -- helpers ----------------------------------------------------------------------------------------------
@functools.cache
def private_mounts() -> bool:
    """True when commands can run in a mount namespace of their own with a tmpfs (root, and unshare works)."""
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=8k tmpfs /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def in_private_mount(script: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a shell script in its own mount namespace; its mounts disappear when it ends."""
    return subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=PROJECT_ROOT, env=clean_environment(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def moderate(*args: str | Path) -> list[str]:
    return [PYTHON, "-m", "moderate.cli", *map(str, args)]


def invoke(*args: str | Path) -> tuple[int, str]:
    """The command line in this process (quicker than a new interpreter): exit code and stderr."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr


def run(command: list[str], timeout: float = 180, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=PROJECT_ROOT, env=clean_environment(), capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def one_clear_line(stderr: str) -> str:
    """The CLI's failure: exactly one `error:` line and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def write_dump(folder: Path, copies: int) -> tuple[Path, Path]:
    """comments.csv (the tiny corpus `copies` times, ids unique, replies within a copy) and articles.csv."""
    rows = []
    for copy in range(copies):
        for cid, aid, parent, text, _ in TINY_COMMENTS:
            rows.append({"comment_id": f"{cid}~{copy}", "article_id": aid,
                         "parent_id": f"{parent}~{copy}" if parent else "", "text": text})
    source = folder / "comments.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(source, index=False)
    articles = folder / "articles.csv"
    pd.DataFrame(TINY_ARTICLES).to_csv(articles, index=False)
    return source, articles


@pytest.fixture
def dump(tmp_path: Path) -> tuple[Path, Path]:
    return write_dump(tmp_path, copies=40)


# -- the model file ---------------------------------------------------------------------------------------
def flip_a_byte(bundle: Path) -> str:
    data = bytearray((bundle / "model.joblib").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.joblib").write_bytes(bytes(data))
    return r"does not match metadata\.json .*the file is corrupt or was replaced, so it is not loaded"


def truncate_and_fix_the_hash(bundle: Path) -> str:
    """Cut the file in half and write its new hash into the metadata: the hash check passes, unpickling fails."""
    import hashlib

    model = bundle / "model.joblib"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    return r"model\.joblib: cannot be read \("


def another_scikit_learn(bundle: Path) -> str:
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata["library_versions"]["scikit-learn"] = "0.24.2"
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    return r"trained with scikit-learn 0\.24\.2, this environment has .*retrain with `moderate train`"


def empty_model_file(bundle: Path) -> str:
    (bundle / "model.joblib").write_bytes(b"")
    return r"does not match metadata\.json"


DAMAGE = [flip_a_byte, truncate_and_fix_the_hash, another_scikit_learn, empty_model_file]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_a_damaged_or_foreign_model_leaves_the_service_up_and_says_why(
    damage: Callable[[Path], str], tmp_path: Path, tiny_bundle_dir: Path
) -> None:
    import re
    import shutil

    bundle = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "model"))
    expected = damage(bundle)
    settings = Settings(model_path=bundle, database_path=tmp_path / "db.sqlite3", reload_poll_seconds=0)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert re.search(expected, ready.json()["detail"]), ready.json()
        assert "POST /admin/reload" in ready.json()["detail"]
        classify = client.post("/classify", json={"article": {"id": "a", "title": "t", "body": "b"},
                                                  "comments": [{"id": "c", "text": "hello"}]})
        assert classify.status_code == 503 and re.search(expected, classify.json()["detail"])
        # The fault repaired (a good bundle put back), a reload brings the service up without a restart.
        shutil.rmtree(bundle)
        shutil.copytree(tiny_bundle_dir, bundle)
        assert client.post("/admin/reload").status_code == 200
        assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_a_damaged_or_foreign_model_stops_batch_scoring_with_one_line(
    damage: Callable[[Path], str], tmp_path: Path, tiny_bundle_dir: Path
) -> None:
    import re
    import shutil

    bundle = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "model"))
    expected = damage(bundle)
    source, articles = write_dump(tmp_path, copies=1)
    out = tmp_path / "scored.csv"
    code, stderr = invoke("score", source, "--articles", articles, "--model", bundle, "-o", out, "--quiet")
    assert code == 1
    assert re.search(expected, one_clear_line(stderr))
    assert not out.exists()


# -- the database -----------------------------------------------------------------------------------------
def test_a_database_that_cannot_be_opened_stops_serve_with_one_line(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    # `moderate serve` opens the database before it starts the server, so these end before any port is bound.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    port = str(free_port())
    code, stderr = invoke("serve", "--model", tiny_bundle_dir, "--database", blocker / "db.sqlite3", "--port", port)
    assert code == 1
    line = one_clear_line(stderr)
    assert f"cannot open the database {blocker / 'db.sqlite3'}" in line and "--database" in line

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not SQLite " * 400)
    code, stderr = invoke("serve", "--model", tiny_bundle_dir, "--database", garbage, "--port", port)
    assert code == 1
    assert "file is not a database" in one_clear_line(stderr)


def test_a_missing_database_folder_is_created_and_keeps_articles(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    database = tmp_path / "new" / "nested" / "db.sqlite3"
    article = {"title": "Council passes city budget", "body": "Taxes rise."}
    for _ in range(2):  # the second app is a restart on the database the first one created
        settings = Settings(model_path=tiny_bundle_dir, database_path=database, reload_poll_seconds=0)
        with TestClient(create_app(settings)) as client:
            client.put("/articles/budget", json=article)
            assert client.get("/articles/budget").json()["title"] == article["title"]
    assert database.exists()


def test_a_read_only_database_folder_stops_serve_with_one_line(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    port = free_port()
    command = shlex.join(moderate("serve", "--model", tiny_bundle_dir, "--database", folder / "db.sqlite3",
                                  "--port", str(port)))
    if private_mounts():
        result = in_private_mount(f"mount -t tmpfs -o ro,size=64k tmpfs {shlex.quote(str(folder))} && {command}",
                                  timeout=60)
    elif os.geteuid() != 0:
        folder.chmod(0o555)
        result = run(moderate("serve", "--model", tiny_bundle_dir, "--database", folder / "db.sqlite3",
                              "--port", str(port)), timeout=60)
        folder.chmod(0o755)
    else:
        pytest.skip("root without mount namespaces: no way to make a folder read-only for root here")
    assert result.returncode == 1, result.stderr
    line = one_clear_line(result.stderr)
    assert f"cannot open the database {folder / 'db.sqlite3'}" in line


# -- batch output -----------------------------------------------------------------------------------------
def score_command(source: Path, articles: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return moderate("score", source, "--articles", articles, "--model", model, "-o", out, "--quiet",
                    "--chunk-rows", "60", "--workers", "1", *extra)


def test_an_output_folder_that_cannot_be_written_is_one_line(
    tmp_path: Path, dump: tuple[Path, Path], tiny_bundle_dir: Path
) -> None:
    source, articles = dump
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, stderr = invoke(*score_command(source, articles, tiny_bundle_dir, blocker / "scored.csv")[3:])
    assert code == 1
    line = one_clear_line(stderr)
    assert f"cannot write {blocker}" in line and "choose an output (-o) in a folder you can write to" in line

    folder = tmp_path / "readonly"
    folder.mkdir()
    command = shlex.join(score_command(source, articles, tiny_bundle_dir, folder / "scored.csv"))
    if private_mounts():
        result = in_private_mount(f"mount -t tmpfs -o ro,size=64k tmpfs {shlex.quote(str(folder))} && {command}")
        assert "Read-only file system" in result.stderr
    elif os.geteuid() != 0:
        folder.chmod(0o555)
        result = run(score_command(source, articles, tiny_bundle_dir, folder / "scored.csv"))
        folder.chmod(0o755)
    else:
        pytest.skip("root without mount namespaces: no way to make a folder read-only for root here")
    assert result.returncode == 1, result.stderr
    line = one_clear_line(result.stderr)
    assert f"cannot write {folder}" in line and "choose an output (-o)" in line


def test_a_disk_that_fills_up_during_output_then_resume_writes_what_an_uninterrupted_run_writes(
    tmp_path: Path, dump: tuple[Path, Path], tiny_bundle_dir: Path
) -> None:
    source, articles = dump
    reference = tmp_path / "reference.csv"
    assert invoke(*score_command(source, articles, tiny_bundle_dir, reference)[3:])[0] == 0
    assert reference.stat().st_size > 150_000  # so that a 64 KiB disk fills up part-way

    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "scored.csv"
    first = shlex.join(score_command(source, articles, tiny_bundle_dir, out))
    again = shlex.join(score_command(source, articles, tiny_bundle_dir, out, "--resume"))
    kept = tmp_path / "kept.csv"
    if private_mounts():
        quoted = shlex.quote(str(disk))
        script = (
            f"mount -t tmpfs -o size=64k tmpfs {quoted} || exit 90\n"
            f"{first}; echo \"first=$?\" >&2\n"
            f"ls {shlex.quote(str(out) + '.partial')} >/dev/null || exit 91\n"
            f"mount -o remount,size=16m {quoted} || exit 92\n"  # space freed
            f"{again} && cp {shlex.quote(str(out))} {shlex.quote(str(kept))}\n"
        )
        result = in_private_mount(script)
        assert result.returncode == 0, result.stderr
        full, resumed = result.stderr.split("first=1", 1)
        assert "No space left on device" in one_clear_line(full)
    else:
        def limit_file_size() -> None:  # the file-size limit: write() fails with EFBIG instead of a signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

        failed = run(score_command(source, articles, tiny_bundle_dir, out), preexec_fn=limit_file_size)
        assert failed.returncode == 1
        full = failed.stderr
        assert "File too large" in one_clear_line(full)
        result = run(score_command(source, articles, tiny_bundle_dir, out, "--resume"))
        assert result.returncode == 0, result.stderr
        resumed = result.stderr
        out.replace(kept)
    line = one_clear_line(full)
    assert f"cannot write {out}.partial" in line
    assert "free some space, then run the same command with --resume" in line
    assert "were already written by the interrupted run" in resumed
    assert kept.read_bytes() == reference.read_bytes()


def test_a_job_killed_halfway_with_its_worker_processes_resumes_to_the_same_output(
    tmp_path: Path, tiny_bundle_dir: Path
) -> None:
    source, articles = write_dump(tmp_path, copies=60)
    options = ["--articles", str(articles), "--model", str(tiny_bundle_dir), "--chunk-rows", "20", "--quiet"]
    reference = tmp_path / "reference.parquet"
    assert invoke("score", source, "-o", reference, *options, "--workers", "1")[0] == 0

    out = tmp_path / "scored.parquet"
    progress = out.with_name(out.name + ".partial") / "progress.jsonl"
    job = subprocess.Popen(moderate("score", source, "-o", out, *options, "--workers", "2"), cwd=PROJECT_ROOT,
                           env=clean_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while job.poll() is None and time.monotonic() < deadline:
            if progress.exists() and len(progress.read_text().splitlines()) >= 2:
                break
            time.sleep(0.01)
        workers = children(job.pid)
        os.kill(job.pid, signal.SIGKILL)  # the job only: its workers must notice and go
        job.wait()
        assert not out.exists() and progress.exists(), "the job finished before it could be killed"
        assert workers, "the job had no worker processes"
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "worker processes outlived the killed job"
    finally:
        for pid in [job.pid, *workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    # Resumed in one process: the output does not depend on the number of workers, only on the chunks.
    code, stderr = invoke("score", source, "-o", out, *options, "--workers", "1", "--resume")
    assert code == 0, stderr
    assert "were already written by the interrupted run" in stderr
    assert pq.read_table(out).equals(pq.read_table(reference))


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
