"""The job's machinery: parents in other chunks (found before or after their reply, only scorable ones, forgotten
after the last reply) and its scratch folders.

(Replaces the test of the bounded memory of recent comments, which the job no longer has: a parent is now found
anywhere in the dump, see batch/parents.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from batch.parents import CrossChunkParents
from batch.readers.base import Problem
from batch.scorer import CommentBatch


def chunk(rows: list[tuple[str, str, str]], problems: list[Problem | None] | None = None) -> CommentBatch:
    """(comment_id, parent_id, text) rows under article "a"."""
    return CommentBatch(
        texts=pa.array([t for _, _, t in rows]), article_ids=pa.array(["a"] * len(rows)), articles={},
        comment_ids=pa.array([c for c, _, _ in rows]), parent_ids=pa.array([p for _, p, _ in rows]),
        problems=problems,
    )


def test_parents_in_other_chunks_are_found_before_or_after_their_reply_and_then_forgotten() -> None:
    chunks = [
        chunk([("r1", "p2", "reply to a later parent"), ("p1", "", "first parent")]),
        chunk([("p2", "", "second parent"), ("r2", "p1", "reply to an earlier parent"), ("r3", "p2", "in chunk")]),
        chunk([("r4", "p1", "another reply"), ("r5", "gone", "no such parent"), ("e", "", " \u200b ")]),
        chunk([("r6", "e", "reply to an empty comment"), ("r7", "bad", "reply to a broken line")]),
        chunk([("bad", "", "read with a problem")], problems=[Problem("invalid UTF-8", "line 9: invalid UTF-8")]),
    ]
    parents = CrossChunkParents()
    for batch in chunks:
        parents.note(batch)
    assert parents.kept == 1  # p2, which r1 wants before it comes
    handed = []
    for batch in chunks:
        texts = parents.texts_for(batch)
        handed.append(None if texts is None else texts.to_pylist())
        if batch is chunks[1]:
            assert parents.kept == 1  # p1 (r4 still wants it); p2 was handed to r1 and is gone
    assert handed == [
        ["second parent", None],
        [None, "first parent", None],
        ["first parent", None, None],
        [None, None],  # an empty comment and a broken line are no parents, in a chunk or not
        None,
    ]
    assert parents.kept == 0


def test_a_job_removes_the_scratch_folders_of_killed_jobs_and_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bundle_dir: Path
) -> None:
    import io
    import subprocess
    import sys
    import tempfile

    import pandas as pd

    from batch.job import score_dump
    from batch.output import StreamOutput
    from batch.readers import open_dump

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    killed = scratch / f"moderate-score-{int(gone.stdout)}-abc"  # a job killed with SIGKILL left it
    alive = scratch / f"moderate-score-{os.getpid()}-def"  # a job still running (this process)
    for folder in (killed, alive):
        folder.mkdir()
        (folder / "terms-000000.npz").write_bytes(b"terms")
    source = tmp_path / "comments.csv"
    pd.DataFrame({"article_id": ["budget"], "text": ["Taxes again"]}).to_csv(source, index=False)
    score_dump(open_dump(source), StreamOutput(io.BytesIO(), "jsonl"), model_path=tiny_bundle_dir)
    assert sorted(p.name for p in scratch.iterdir()) == [alive.name]
