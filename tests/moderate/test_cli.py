"""The `moderate` command line, through its public surface: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from moderate.cli import app
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS, write_corpus

runner = CliRunner()


def test_train_writes_bundle_and_report(tiny_corpus_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--data", str(tiny_corpus_dir), "--out", str(out), "--folds", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.stdout and "baseline" in result.stdout
    for name in ("model.joblib", "metadata.json", "report/metrics.json", "report/report.md",
                 "report/confusion_matrix.png", "report/precision_recall.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert "grouped by article" in metrics["protocol"]
    assert set(metrics) >= {"model", "baseline", "thresholds", "actions", "seconds"}


def test_evaluate_a_saved_bundle(tiny_corpus_dir: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(tiny_corpus_dir), "--model", str(tiny_bundle_dir),
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["model_version"] and 0.0 <= last["macro_f1"] <= 1.0
    assert (tmp_path / "eval" / "metrics.json").is_file()


def test_bad_data_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "articles.csv").write_text("article_id,title,body\na1,T,B\n", encoding="utf-8")
    (folder / "comments.csv").write_text("comment_id,article_id,parent_id,text,label\nc1,a1,,hi,offtopic\n",
                                         encoding="utf-8")
    result = runner.invoke(app, ["train", "--data", str(folder), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: comments.csv line 2, field 'label': label 'offtopic' is not one of on_topic, off_topic, spam"
    )
    assert "Traceback" not in result.output


def test_missing_model_says_how_to_train(tiny_corpus_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(tiny_corpus_dir), "--model", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no model bundle at" in result.stderr and "moderate train --out" in result.stderr


def test_evaluate_refuses_labels_the_model_does_not_know(tmp_path: Path) -> None:
    spam_only = [c for c in TINY_COMMENTS if c[4] != "off_topic"]
    train_dir = write_corpus(tmp_path / "train", TINY_ARTICLES, spam_only)
    assert runner.invoke(app, ["train", "--data", str(train_dir), "--out", str(tmp_path / "b"), "--folds", "2",
                               "-q"]).exit_code == 0
    off = write_corpus(tmp_path / "off", TINY_ARTICLES, [("x1", "budget", "", "Derby tonight", "off_topic")])
    result = runner.invoke(app, ["evaluate", "--data", str(off), "--model", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "the data has label(s) off_topic that model" in result.stderr
    assert "(it knows on_topic, spam)" in result.stderr
