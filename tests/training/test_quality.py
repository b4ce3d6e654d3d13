"""Quality on real, human-labeled data, quick variant: subsets of the public sets, a few seconds in all.

The full run is `make quality` (docs/quality.md). These tests fail when a change breaks quality on real text: each
floor sits a few points under what the subset gives today, and each is a comparison that means something (above
the comment-only baseline, above flagging everything), not a copy of today's figure. They skip without ../shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from training import quality
from training.config import TrainingConfig
from training.data import LabeledData
from training.datasets import ADAPTERS

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.shared


@cache
def _load(root: str, name: str) -> LabeledData:
    return ADAPTERS[name](Path(root))


def load(shared_data: Path, name: str) -> LabeledData:
    return _load(str(shared_data), name)


def test_adapters_read_every_set_with_the_counts_its_readme_gives(shared_data: Path) -> None:
    omp = load(shared_data, "omp")
    assert omp.counts()["labels"] == {"on_topic": 3019, "off_topic": 580}
    assert sorted(omp.comments["fold"].unique()) == list(range(1, 11))
    assert omp.counts()["replies"] == 1834  # of 2,481 replies, those whose parent post is in the file
    youtube = load(shared_data, "youtube")  # 1,956 rows, 3 duplicated ids dropped
    assert (len(youtube.comments), youtube.articles["article_id"].nunique()) == (1953, 5)
    assert not youtube.comments["text"].str.contains("&#39;|<br", regex=True).any()
    qatar = load(shared_data, "qatar")
    assert qatar.counts()["labels"] == {"on_topic": 1872, "off_topic": 631 + 747}
    assert set(qatar.comments["gold"]) == {"Good", "Bad", "Dialogue"}
    assert (len(load(shared_data, "fox").comments), len(load(shared_data, "fox").articles)) == (1528, 10)
    globe = load(shared_data, "globe")  # titles with and without " - The Globe and Mail" are one article
    assert not globe.articles["title"].str.endswith("The Globe and Mail").any()
    assert len(globe.comments) == 1121


def test_pairing_separates_a_comment_at_home_from_the_same_comment_moved(shared_data: Path) -> None:
    sample = quality.sample_articles(load(shared_data, "globe"), articles=10, per_article=40)
    result = quality.pairing(sample, dataset="globe", folds=2, jobs=1, c_grid=(1.0,))
    auc = result.details["AUC (thread, alone, thread with the configured C, baseline)"]
    assert auc["baseline"] == 0.5  # reads only the comment: both placements score the same
    assert auc["thread"] >= 0.80
    assert auc["alone"] >= 0.72
    assert result.errors["false positives"] and result.errors["false negatives"]


def test_question_aware_model_beats_the_comment_only_baseline_on_qatarliving(shared_data: Path) -> None:
    sample = quality.sample_articles(load(shared_data, "qatar"), articles=300)
    result = quality.qatar_relevance(sample, jobs=1, config=TrainingConfig(), both_ways=False)
    ours, baseline = result.details["ours, dev -> test"], result.details["baseline, dev -> test"]
    assert ours["auc"] >= 0.82
    assert ours["auc"] > baseline["auc"]
    assert ours["f1"] >= baseline["f1"] + 0.08


def test_spam_is_caught_under_a_video_never_seen_in_training(shared_data: Path) -> None:
    sample = quality.sample_articles(load(shared_data, "youtube"), articles=3, per_article=150)
    result = quality.youtube_spam(sample, folds=3, jobs=1)
    unseen = next(f for f in result.figures if f.protocol == "leave one video out" and f.metric == "spam F1")
    assert unseen.ours >= 0.88
    assert unseen.baseline is not None and unseen.ours >= unseen.baseline - 0.03


def test_off_topic_protocol_runs_the_official_folds_with_the_parent_rule(shared_data: Path) -> None:
    # A subset of One Million Posts is too small for a stable F1 (0.27-0.35 across samples of 1,500 posts), so
    # this checks the protocol's working parts; the figure itself is judged by the full run (make quality).
    sample = quality.sample_articles(load(shared_data, "omp"), comments=800, seed=0)
    result = quality.omp_offtopic(sample, jobs=1, folds=[1, 2])
    assert set(result.details["parent weight per fold"]) == {1, 2}
    assert set(result.details["parent weight per fold"].values()) <= set(quality.PARENT_WEIGHTS)
    ours = result.details["ours (comment n-grams + parent's score)"]
    tested = sample.comments[sample.comments["fold"].isin([1, 2])]
    assert ours["positives"] == int((tested["label"] == "off_topic").sum())
    assert 0 < ours["flagged"] < len(tested)
    assert result.details["baseline, argmax (naive)"]["positives"] == ours["positives"]


def test_quality_command_writes_the_report_and_the_figures(shared_data: Path, tmp_path: Path) -> None:
    report, figures = tmp_path / "quality.md", tmp_path / "quality.json"
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench/quality.py"), "--quick", "--only", "globe,fox",
         "--data-root", str(shared_data), "--jobs", "1", "--out", str(report), "--json", str(figures)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    text = report.read_text(encoding="utf-8")
    assert "| Globe and Mail | article pairing, in the thread | AUC |" in text
    assert "QUICK variant" in text
    payload = json.loads(figures.read_text(encoding="utf-8"))
    assert [r["key"] for r in payload["results"]] == ["pairing_globe", "pairing_fox"]
    assert all(f["baseline"] == 0.5 for r in payload["results"] for f in r["figures"])


def test_transfer_report_leads_with_the_headline_and_its_reliability_plot(
    shared_data: Path, tmp_path: Path, tiny_bundle_dir: Path, tiny_corpus_dir: Path
) -> None:
    report = tmp_path / "docs" / "quality.md"
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench/quality.py"), "--quick", "--only", "transfer",
         "--data-root", str(shared_data), "--model", str(tiny_bundle_dir), "--corpus", str(tiny_corpus_dir),
         "--out", str(report)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode == 0, done.stderr
    text = report.read_text(encoding="utf-8")
    assert text.index("## Headline") < text.index("## Summary")
    assert "| YouTube Spam | spam" in text and "expected calibration error" in text
    assert "![reliability of the default model on real sets](img/transfer_reliability.png)" in text
    png = report.parent / "img" / "transfer_reliability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quality_command_names_a_missing_data_folder_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench/quality.py"), "--quick", "--data-root", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "public data sets not found" in done.stderr
