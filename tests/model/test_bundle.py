"""The model bundle: one object in, checked on the way back in, and a classify call with a fixed shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.bundle import METADATA_FILE, MODEL_FILE, ModelBundle
from model.errors import BundleIntegrityError, BundleNotFoundError, ClassifyError
from model.features import LENGTH_NAMES
from model.labels import ACTIONS
from model.types import Article, Comment

BUDGET = Article("budget", "Council passes city budget after long night",
                 "The city council voted 5-2 to pass a budget that raises property taxes and cuts library hours.")


def copy_bundle(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_metadata_json_is_readable_and_complete(tiny_bundle_dir: Path) -> None:
    metadata = json.loads((tiny_bundle_dir / METADATA_FILE).read_text())
    for key in ("version", "created_at", "library_versions", "training_data", "training_config", "validation",
                "thresholds", "labels", "model_sha256", "format_version"):
        assert key in metadata, key
    assert metadata["labels"] == ["on_topic", "off_topic", "spam"]
    assert metadata["training_data"]["comments"] == 33
    assert len(metadata["training_data"]["sha256"]) == 64
    assert "scikit-learn" in metadata["library_versions"]


def test_round_trip_keeps_scores(tiny_bundle: ModelBundle, tmp_path: Path) -> None:
    comments = [Comment("1", "Property taxes up again, the council never listens"), Comment("2", "dm me for cash")]
    before = tiny_bundle.classify(BUDGET, comments)
    again = ModelBundle.load(tiny_bundle.save(tmp_path / "copy")).classify(BUDGET, comments)
    assert [r.scores for r in before] == [r.scores for r in again]
    assert again[0].label == before[0].label


def test_tampered_model_file_is_refused_before_unpickling(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    with (folder / MODEL_FILE).open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(BundleIntegrityError, match=r"does not match metadata\.json .* so it is not loaded"):
        ModelBundle.load(folder)


def test_other_scikit_learn_version_is_refused(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["library_versions"]["scikit-learn"] = "0.24.2"
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(BundleIntegrityError, match=r"trained with scikit-learn 0\.24\.2, this environment has"):
        ModelBundle.load(folder)


def test_other_format_version_and_broken_metadata_are_refused(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    metadata = json.loads((folder / METADATA_FILE).read_text())
    (folder / METADATA_FILE).write_text(json.dumps({**metadata, "format_version": 99}))
    with pytest.raises(BundleIntegrityError, match="bundle format version 99, this program reads version 3"):
        ModelBundle.load(folder)
    (folder / METADATA_FILE).write_text("{truncated")
    with pytest.raises(BundleIntegrityError, match="cannot be read as JSON"):
        ModelBundle.load(folder)


def test_truncated_model_file_with_matching_hash_is_a_clear_error(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    import hashlib

    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    data = (folder / MODEL_FILE).read_bytes()[:200]
    (folder / MODEL_FILE).write_bytes(data)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["model_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(BundleIntegrityError, match=r"model\.joblib: cannot be read"):
        ModelBundle.load(folder)


def test_missing_bundle_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match="train one with `moderate train --out"):
        ModelBundle.load(tmp_path / "none")


def test_classify_returns_one_result_per_comment_in_order(tiny_bundle: ModelBundle) -> None:
    comments = [Comment(str(i), text) for i, text in enumerate(
        ["Taxes up 3 percent again", "Earn $900 a day, whatsapp me", "What a derby header", "ok"])]
    results = tiny_bundle.classify(BUDGET, comments)
    assert [r.id for r in results] == ["0", "1", "2", "3"]
    for result in results:
        assert set(result.scores) == {"on_topic", "off_topic", "spam"}
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.label == max(result.scores, key=result.scores.get)
        assert result.action in ACTIONS
        assert isinstance(result.reasons, list)
    assert tiny_bundle.classify(BUDGET, []) == []


def test_fast_scores_equal_sklearn_predict_proba(tiny_bundle: ModelBundle) -> None:
    frame = pd.DataFrame({
        "text": ["Taxes up again", "dm me on telegram for $$$", "Library hours cut, shame", "goal!!"],
        "article_key": ["a", "a", "b", "b"], "title": ["Budget"] * 2 + ["Library"] * 2,
        "body": ["The council passed a budget."] * 2 + ["Sunday hours are cut."] * 2,
        "comment_id": ["1", "2", "3", "4"], "parent_id": ["", "1", "", "3"],
    })
    expected = tiny_bundle.pipeline.predict_proba(frame)
    classes = list(tiny_bundle.pipeline.classes_)
    expected = expected[:, [classes.index(label) for label in tiny_bundle.labels]]
    np.testing.assert_allclose(tiny_bundle.score_frame(frame), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("comments", "message"),
    [
        ([Comment("1", "a"), Comment("1", "b")],
         r"comments\[1\]\.id: duplicate comment id '1' \(first at comments\[0\]\)"),
        ([Comment("1", "a"), Comment("2", "b", parent_id="9")], r"comments\[1\]\.parent_id: unknown parent '9'"),
        ([Comment("1", "  \u200b ")], r"comments\[0\]\.text: empty text"),
        ([Comment("1", "hi", parent_id="1")], r"comments\[0\]\.parent_id: a comment cannot reply to itself"),
    ],
)
def test_classify_rejects_inconsistent_comments(
    tiny_bundle: ModelBundle, comments: list[Comment], message: str
) -> None:
    with pytest.raises(ClassifyError, match=message):
        tiny_bundle.classify(BUDGET, comments)


def test_context_remembers_parents_and_thread_across_calls(tiny_bundle: ModelBundle) -> None:
    context = tiny_bundle.article_context(BUDGET)
    tiny_bundle.classify(BUDGET, [Comment("p", "Property taxes up 3 percent is too much")], context=context,
                         remember=True)
    assert context.knows("p")
    reply = tiny_bundle.classify(BUDGET, [Comment("r", "Exactly.", parent_id="p")], context=context)
    alone = tiny_bundle.classify(BUDGET, [Comment("r", "Exactly.")], context=context)
    assert reply[0].scores != alone[0].scores  # the parent changed the features
    assert context.thread_count == 1


def test_reasons_name_words_and_context(tiny_bundle: ModelBundle) -> None:
    result = tiny_bundle.classify(BUDGET, [Comment("1", "Earn $900 a day from home, whatsapp me now")])[0]
    assert result.label == "spam"
    assert result.reasons, "a spam decision must come with reasons"
    assert all("(+" in reason for reason in result.reasons)


def test_the_comments_length_is_never_a_reason_for_its_topic(tiny_bundle: ModelBundle) -> None:
    """Length is our corpus's style (its off-topic comments are long rants), so the topic head does not read it."""
    rant = ("My insurance company denied the claim again and nobody at the call center could tell me why, three "
            "hours on hold, then they hung up, and the premium went up anyway this year, unbelievable service")
    comments = [Comment("1", "ok"), Comment("2", "Library hours cut again, shame"), Comment("3", rant),
                Comment("4", rant + " " + rant)]
    reasons = [reason for result in tiny_bundle.classify(BUDGET, comments) for reason in result.reasons]
    assert reasons
    assert not [r for r in reasons if any(name in r for name in LENGTH_NAMES)], reasons
