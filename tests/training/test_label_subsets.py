"""A site may have only spam/not-spam or only on/off-topic labels: any two of the three train a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.bundle import ModelBundle
from model.types import Article, Comment
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS, write_corpus
from training.config import TrainingConfig
from training.data import load_labeled
from training.train import train


@pytest.mark.parametrize("kept", [("on_topic", "spam"), ("on_topic", "off_topic"), ("off_topic", "spam")])
def test_two_labels_train_and_the_bundle_records_them(tmp_path: Path, kept: tuple[str, str]) -> None:
    comments = [c for c in TINY_COMMENTS if c[4] in kept]
    # a reply whose parent was dropped would be invalid data; keep only replies to kept comments
    kept_ids = {c[0] for c in comments}
    comments = [c for c in comments if not c[2] or c[2] in kept_ids]
    result = train(load_labeled(write_corpus(tmp_path / "data", TINY_ARTICLES, comments)), TrainingConfig(folds=2))
    folder = result.bundle.save(tmp_path / "bundle")
    bundle = ModelBundle.load(folder)
    assert bundle.labels == kept
    assert json.loads((folder / "metadata.json").read_text())["labels"] == list(kept)
    out = bundle.classify(Article("a", "Budget vote", "The council voted on taxes."), [Comment("1", "Taxes again")])
    assert set(out[0].scores) == set(kept)
    assert out[0].label in kept


def test_one_label_is_refused(tmp_path: Path) -> None:
    comments = [c for c in TINY_COMMENTS if c[4] == "on_topic" and not c[2]]
    data = load_labeled(write_corpus(tmp_path, TINY_ARTICLES, comments))
    with pytest.raises(ValueError, match="training needs at least two labels; the data has only on_topic"):
        train(data, TrainingConfig(folds=2))
