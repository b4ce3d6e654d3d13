"""`moderate score` through the command line: every format in, every format out, nothing lost, resumable."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from batch.scorer import SCORE_COLUMNS
from moderate.cli import app
from tests.batch.test_readers import DISQUS, WXR
from tests.conftest import PROJECT_ROOT, TINY_ARTICLES, TINY_COMMENTS

runner = CliRunner()
COMMENT_COLUMNS = ["comment_id", "article_id", "parent_id", "text"]


def comments(copies: int = 1) -> pd.DataFrame:
    """The tiny corpus without labels; each copy gets its own comment ids (and parents within the copy)."""
    rows = []
    for copy in range(copies):
        suffix = f"~{copy}" if copies > 1 else ""
        for cid, aid, parent, text, _ in TINY_COMMENTS:
            rows.append({"comment_id": cid + suffix, "article_id": aid,
                         "parent_id": parent + suffix if parent else "", "text": text})
    return pd.DataFrame(rows, columns=COMMENT_COLUMNS)


@pytest.fixture
def articles_csv(tmp_path: Path) -> Path:
    path = tmp_path / "articles.csv"
    pd.DataFrame(TINY_ARTICLES).to_csv(path, index=False)
    return path


def score(*args: str | Path) -> object:
    result = runner.invoke(app, ["score", *map(str, args), "--quiet"])
    return result


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_json(path, lines=True, dtype=False)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, missing values as "", scores to 6 decimals: the same table whatever the format."""
    out = frame.copy()
    for column in out.columns:
        if column.startswith("score_"):
            out[column] = pd.to_numeric(out[column].replace("", None)).map(lambda v: "" if pd.isna(v) else f"{v:.6f}")
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    return out.reset_index(drop=True)


# -- formats ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_table_format_in_gives_one_row_per_row_in_order(
    fmt: str, tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    frame = comments()
    source = tmp_path / f"comments.{fmt}"
    if fmt == "csv":
        frame.to_csv(source, index=False)
    elif fmt == "jsonl":
        frame.to_json(source, orient="records", lines=True)
    else:
        frame.to_parquet(source, index=False)
    out = tmp_path / "scored.parquet"
    result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir)
    assert result.exit_code == 0, result.output
    scored = read_output(out)
    assert list(scored.columns) == COMMENT_COLUMNS + list(SCORE_COLUMNS)
    assert scored["comment_id"].tolist() == frame["comment_id"].tolist()
    assert scored["error"].isna().all()
    assert set(scored["label"]) <= {"on_topic", "off_topic", "spam"}
    assert f"{len(frame)} rows scored into {out}" in result.stderr.replace("\n", " ")
    assert not out.with_name(out.name + ".partial").exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_every_output_format_holds_the_same_rows(
    fmt: str, tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    reference, other = tmp_path / "out.parquet", tmp_path / f"out.{fmt}"
    for out in (reference, other):
        result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir)
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(comparable(read_output(other)), comparable(read_output(reference)))


def test_stdout_output_streams_json_lines_or_csv(tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    result = score(source, "--articles", articles_csv, "-o", "-", "--model", tiny_bundle_dir)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["comment_id"] for r in rows] == comments()["comment_id"].tolist()
    assert set(rows[0]) == set(COMMENT_COLUMNS) | set(SCORE_COLUMNS)
    as_csv = score(source, "--articles", articles_csv, "-o", "-", "--output-format", "csv", "--model", tiny_bundle_dir)
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.stdout.splitlines()
    assert lines[0] == ",".join(f'"{c}"' for c in COMMENT_COLUMNS + list(SCORE_COLUMNS))
    assert len(lines) == len(TINY_COMMENTS) + 1
    assert not list(tmp_path.glob("*.partial"))


def test_a_dump_on_stdin_is_scored_to_stdout(tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path) -> None:
    text = comments().to_json(orient="records", lines=True)
    result = runner.invoke(app, ["score", "-", "--format", "jsonl", "--articles", str(articles_csv),
                                 "--model", str(tiny_bundle_dir), "-q"], input=text)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["comment_id"] for r in rows] == comments()["comment_id"].tolist()
    unnamed = runner.invoke(app, ["score", "-", "--model", str(tiny_bundle_dir)], input=text)
    assert unnamed.exit_code == 1 and "needs its format: --format" in unnamed.stderr


def test_wordpress_and_disqus_exports_bring_their_own_articles(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    for name, text, expected_ids, unknown in (("wp.xml", WXR, ["7", "8", "9"], 0),
                                              ("dq.xml", DISQUS, ["p1", "p2", "p3", "p4"], 1)):
        source = tmp_path / name
        source.write_text(text, encoding="utf-8")
        result = score(source, "--model", tiny_bundle_dir)
        assert result.exit_code == 0, result.output
        scored = read_output(tmp_path / f"{source.stem}.scored.csv")
        assert scored["comment_id"].tolist() == expected_ids
        assert (scored["error"] == "unknown article 't9'").sum() == unknown
        assert (scored["label"] != "").sum() == len(expected_ids) - unknown


def test_each_kind_of_bad_row_says_why_and_the_job_goes_on(
    tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(
        b"comment_id,article_id,parent_id,text\n"
        b"ok1,budget,,Property taxes up again\n"
        b"e1,budget,,\n"
        b"e2,nowhere,,Which article is this?\n"
        b"e3,budget,,caf\xe9 latin-1 bytes\n"
        b"e4,budget,,one,field,too many\n"
        b"e5,,,no article id\n"
        b"ok2,derby,,What a late header from the young defender\n"
    )
    out = tmp_path / "bad.scored.jsonl"
    result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["comment_id"] for r in rows] == ["ok1", "e1", "e2", "e3", "e4", "e5", "ok2"]
    assert [r["error"] for r in rows] == [
        None, "empty text", "unknown article 'nowhere'", "line 5: invalid UTF-8 (byte 0xe9 at column 15)",
        "line 6: expected 4 fields, found 6", "missing article id", None,
    ]
    assert [r["label"] is not None for r in rows] == [True, False, False, False, False, False, True]
    assert rows[3]["text"] == "caf\ufffd latin-1 bytes"
    summary = result.stderr
    for line in ("error: empty text", "error: unknown article", "error: invalid UTF-8", "error: malformed CSV row",
                 "error: missing article id"):
        assert line in summary


def test_an_unknown_article_without_an_articles_file(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    result = score(source, "-o", tmp_path / "out.csv", "--model", tiny_bundle_dir)
    assert result.exit_code == 0, result.output
    scored = read_output(tmp_path / "out.csv")
    assert scored["error"].str.startswith("unknown article '").all()
    assert re.search(rf"error: unknown article\s+│\s+{len(TINY_COMMENTS)}\s", result.stderr)


# -- both cores, resuming -----------------------------------------------------------------------------------
def test_two_worker_processes_write_what_one_process_writes(
    tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    source = tmp_path / "comments.csv"
    comments(copies=6).to_csv(source, index=False)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}.parquet"
        result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir,
                       "--workers", workers, "--chunk-rows", "25")
        assert result.exit_code == 0, result.output
        outputs.append(pq.read_table(out))
    assert outputs[0].equals(outputs[1])


def test_a_killed_job_resumes_and_writes_what_an_uninterrupted_job_writes(
    tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    source = tmp_path / "comments.csv"
    comments(copies=60).to_csv(source, index=False)
    common = ["--articles", str(articles_csv), "--model", str(tiny_bundle_dir), "--chunk-rows", "20",
              "--workers", "1", "--quiet"]
    reference = tmp_path / "reference.csv"
    assert score(source, "-o", reference, *common[:-1]).exit_code == 0

    out = tmp_path / "resumed.csv"
    spool = out.with_name(out.name + ".partial")
    command = [sys.executable, "-m", "moderate.cli", "score", str(source), "-o", str(out), *common]
    job = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and job.poll() is None:
        progress = spool / "progress.jsonl"
        if progress.exists() and len(progress.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert spool.is_dir() and not out.exists(), "the job finished before it could be interrupted"

    result = score(source, "-o", out, *common[:-1], "--resume")
    assert result.exit_code == 0, result.output
    assert "were already written by the interrupted run" in result.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not spool.exists()


def test_a_crash_mid_chunk_leaves_a_stray_part_that_resume_writes_again(
    tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    from batch.job import JobOptions, score_dump
    from batch.output import SpoolOutput
    from batch.readers import open_dump
    from moderate.score import load_articles

    class CrashingOutput(SpoolOutput):
        """Dies while writing chunk 4: its part half written, its progress line cut short."""

        def write(self, index: int, table: pa.Table, counts: object) -> None:
            if index == 4:
                self._part(4).write_bytes(b"half a part")
                with (self.spool / "progress.jsonl").open("a") as progress:
                    progress.write('{"chunk": 4, "ro')
                raise KeyboardInterrupt
            super().write(index, table, counts)  # type: ignore[arg-type]

    source = tmp_path / "comments.csv"
    comments(copies=3).to_csv(source, index=False)
    common = ["--articles", articles_csv, "--model", tiny_bundle_dir, "--chunk-rows", "10"]
    reference = tmp_path / "reference.parquet"
    assert score(source, "-o", reference, *common).exit_code == 0
    out = tmp_path / "out.parquet"
    articles, fingerprint = load_articles(articles_csv)
    with pytest.raises(KeyboardInterrupt):
        score_dump(open_dump(source), CrashingOutput(out, "parquet"), model_path=tiny_bundle_dir, articles=articles,
                   articles_fingerprint=fingerprint, options=JobOptions(chunk_rows=10))
    result = score(source, "-o", out, *common, "--resume")
    assert result.exit_code == 0, result.output
    assert "40 rows were already written" in result.stderr
    assert pq.read_table(out).equals(pq.read_table(reference))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_spool_joins_the_same_file_whether_or_not_the_job_stopped_between_chunks(tmp_path: Path, fmt: str) -> None:
    """Parquet output is joined as chunks arrive; a resumed spool starts the join again from its parts, also when
    every chunk was written and only the final join is left."""
    from batch.output import SpoolOutput
    from batch.scorer import Counts

    tables = [pa.table({"text": [f"comment {i}.{j}" for j in range(3)], "n": [i] * 3}) for i in range(4)]
    job = {"input": "dump"}
    straight = SpoolOutput(tmp_path / f"straight.{fmt}", fmt)
    straight.start(job, resume=False)
    for index, table in enumerate(tables):
        straight.write(index, table, Counts(rows=3))
    straight.finish(tables[0].schema)
    for stop_after in (2, 4):  # stopped part-way, or with every chunk written but not joined
        out = tmp_path / f"stopped-{stop_after}.{fmt}"
        first = SpoolOutput(out, fmt)
        first.start(job, resume=False)
        for index in range(stop_after):
            first.write(index, tables[index], Counts(rows=3))
        again = SpoolOutput(out, fmt)
        done, counts = again.start(job, resume=True)
        assert (done, counts.rows) == (stop_after, 3 * stop_after)
        for index in range(done, len(tables)):
            again.write(index, tables[index], Counts(rows=3))
        again.finish(tables[0].schema)
        del first  # its writer, left open, closes now: it must not touch the joined output
        gc.collect()
        assert out.read_bytes() == straight.path.read_bytes()
        assert not out.with_name(out.name + ".partial").exists()


def test_resume_refuses_a_spool_written_by_another_version(tmp_path: Path, articles_csv: Path,
                                                           tiny_bundle_dir: Path) -> None:
    """An output never mixes parts of two versions (their scores' last bits, their parts' format)."""
    from batch.job import JobOptions, score_dump
    from batch.output import SpoolOutput
    from batch.readers import open_dump
    from moderate.score import load_articles

    class Interrupted(SpoolOutput):
        def write(self, index: int, table: pa.Table, counts: object) -> None:
            if index == 1:
                raise KeyboardInterrupt
            super().write(index, table, counts)  # type: ignore[arg-type]

    source = tmp_path / "comments.csv"
    comments(copies=3).to_csv(source, index=False)
    out = tmp_path / "out.parquet"
    articles, fingerprint = load_articles(articles_csv)
    with pytest.raises(KeyboardInterrupt):
        score_dump(open_dump(source), Interrupted(out, "parquet"), model_path=tiny_bundle_dir, articles=articles,
                   articles_fingerprint=fingerprint, options=JobOptions(chunk_rows=10))
    job_file = out.with_name(out.name + ".partial") / "job.json"
    job = json.loads(job_file.read_text(encoding="utf-8"))
    del job["spool"]  # as the versions before the spool's version was recorded wrote it
    job_file.write_text(json.dumps(job), encoding="utf-8")
    result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir, "--chunk-rows", "10",
                   "--resume")
    assert result.exit_code == 1
    assert "it was written with a different spool" in result.stderr


def test_resume_refuses_a_spool_from_another_input(tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    out = tmp_path / "out.csv"
    spool = out.with_name(out.name + ".partial")
    spool.mkdir()
    (spool / "job.json").write_text(json.dumps({"input": {"path": "elsewhere"}}), encoding="utf-8")
    result = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir, "--resume")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot resume {spool}: it was written with a different")
    again = score(source, "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir)
    assert again.exit_code == 1 and "continue it with --resume" in again.stderr
    nothing = score(source, "--articles", articles_csv, "-o", tmp_path / "new.csv", "--model", tiny_bundle_dir,
                    "--resume")
    assert nothing.exit_code == 1 and "nothing to resume" in nothing.stderr


# -- dask ---------------------------------------------------------------------------------------------------
def test_dask_engine_writes_what_the_single_process_job_writes(
    tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path
) -> None:
    """Two files, two partitions: scored as one dump, as the single-process job scores the two files joined
    (threads and parents across the partitions; was: each file on its own, the old per-partition context)."""
    from distributed import LocalCluster

    folder = tmp_path / "dump"
    folder.mkdir()
    frame = comments(copies=2)
    halves = [frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :]]
    joined = tmp_path / "joined.csv"
    with joined.open("wb") as whole:
        for i, half in enumerate(halves):
            half.to_csv(folder / f"part-{i}.csv", index=False)
            with (folder / f"part-{i}.csv").open("ab") as handle:  # a broken line: an error row in both engines
                handle.write(b"x1,budget,,one,field,too many\nx2,nowhere,,Which article?\n")
            lines = (folder / f"part-{i}.csv").read_bytes().splitlines(keepends=True)
            whole.writelines(lines if i == 0 else lines[1:])
    single = tmp_path / "single.parquet"
    assert score(joined, "--articles", articles_csv, "-o", single, "--model", tiny_bundle_dir).exit_code == 0
    out = tmp_path / "dask-out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = score(str(folder / "part-*.csv"), "--engine", "dask", "--scheduler", cluster.scheduler_address,
                       "--articles", articles_csv, "-o", out, "--model", tiny_bundle_dir)
    assert result.exit_code == 0, result.output
    got = pq.read_table(out).to_pandas()
    want = pq.read_table(single).to_pandas()
    for table in (got, want):  # a broken line's number is counted in its own file
        table["error"] = table["error"].str.replace(r"^line \d+:", "line N:", regex=True)
    pd.testing.assert_frame_equal(comparable(got), comparable(want))
    assert (pq.read_table(out).column("error").to_pylist().count(
        f"line {len(halves[0]) + 2}: expected 4 fields, found 6")) == 2
    summary = result.stderr.replace("\n", " ")
    assert f"{len(frame) + 4} rows scored into {out}" in summary
    assert re.search(r"error: malformed CSV row\s+│\s+2\s", summary)
    assert re.search(r"error: unknown article\s+│\s+2\s", summary)


def test_dask_engine_reads_parquet_globs(tmp_path: Path, articles_csv: Path, tiny_bundle_dir: Path) -> None:
    from batch.dask_engine import score_with_dask
    from moderate.score import load_articles

    folder = tmp_path / "dump"
    folder.mkdir()
    comments().to_parquet(folder / "part-0.parquet", index=False)
    single = tmp_path / "single.parquet"
    assert score(folder / "part-0.parquet", "--articles", articles_csv, "-o", single,
                 "--model", tiny_bundle_dir).exit_code == 0
    articles, _ = load_articles(articles_csv)
    counts = score_with_dask(str(folder / "*.parquet"), tmp_path / "out", model_path=tiny_bundle_dir,
                             articles=articles, workers=1, processes=False)
    assert counts.rows == len(TINY_COMMENTS)
    pd.testing.assert_frame_equal(comparable(pq.read_table(tmp_path / "out").to_pandas()),
                                  comparable(pq.read_table(single).to_pandas()))


# -- one-line errors ------------------------------------------------------------------------------------------
def test_problems_with_the_command_are_one_line_and_exit_code_1(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    bad_articles = tmp_path / "articles.csv"
    bad_articles.write_text("article_id,title,body\nbudget,,no title\n", encoding="utf-8")
    cases = [
        ([tmp_path / "missing.csv"], "file not found"),
        ([source, "--articles", bad_articles], "articles.csv line 2, field 'title': empty value"),
        ([source, "--engine", "dask"], "--engine dask writes a Parquet folder"),
        ([source, "-o", tmp_path / "out.txt"], "cannot tell the output format"),
        ([source, "-o", "-", "--output-format", "parquet"], "cannot stream parquet to stdout"),
        ([source, "-o", "-", "--resume"], "a stream to stdout cannot be resumed"),
        ([source, "--model", tmp_path / "no-model"], "no model bundle at"),
    ]
    for args, message in cases:
        full = [*args] if "--model" in args else [*args, "--model", tiny_bundle_dir]
        result = score(*full)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_choices_and_options_an_engine_cannot_honour_are_usage_errors(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    source = tmp_path / "comments.csv"
    comments().to_csv(source, index=False)
    cases = [
        ([source, "--engine", "spark"], "'spark' is not one of 'local', 'dask'"),
        ([source, "--format", "xls"], "'xls' is not one of 'csv', 'jsonl', 'parquet', 'wxr', 'disqus'"),
        ([source, "--output-format", "xml"], "'xml' is not one of 'csv', 'jsonl', 'parquet'"),
        ([source, "--scheduler", "tcp://127.0.0.1:8786"], "use it with --engine dask"),
        *(([source, "--engine", "dask", "-o", tmp_path / "out", *option], f"cannot honour {option[0]}")
          for option in (["--workers", "2"], ["--chunk-rows", "10"], ["--resume"], ["--format", "csv"],
                         ["--output-format", "csv"])),
    ]
    for args, message in cases:
        result = score(*args, "--model", tiny_bundle_dir)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.replace("│", " ").split()), (args, result.stderr)
        assert not (tmp_path / "out").exists() and "Traceback" not in result.output


def test_the_readers_and_the_command_line_name_the_same_formats() -> None:
    from batch.formats import DUMP_FORMATS
    from batch.readers import READERS

    assert tuple(READERS) == DUMP_FORMATS
