"""Scoring a batch from a dump: the same scores as the bundle's frame path, one row per input row, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.readers.base import Problem
from batch.scorer import SCORE_COLUMNS, ChunkScorer, CommentBatch
from model.bundle import ModelBundle
from model.labels import LABELS
from model.types import Article
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS

ARTICLES = {a["article_id"]: Article(a["article_id"], a["title"], a["body"]) for a in TINY_ARTICLES}


def comments_frame() -> pd.DataFrame:
    frame = pd.DataFrame(TINY_COMMENTS, columns=["comment_id", "article_id", "parent_id", "text", "label"])
    frame["title"] = [ARTICLES[a].title for a in frame["article_id"]]
    frame["body"] = [ARTICLES[a].body for a in frame["article_id"]]
    frame["article_key"] = frame["article_id"]
    return frame


def batch_of(frame: pd.DataFrame, **extra: object) -> CommentBatch:
    def column(name: str) -> pa.Array | None:
        return pa.array(frame[name].tolist(), type=pa.string(), from_pandas=True) if name in frame.columns else None

    return CommentBatch(
        texts=column("text"), article_ids=column("article_id"), articles=extra.pop("articles", ARTICLES),  # type: ignore[arg-type]
        comment_ids=column("comment_id"), parent_ids=column("parent_id"), parent_texts=column("parent_text"),
        **extra,  # type: ignore[arg-type]
    )


def scores_of(table: pa.Table, labels: tuple[str, ...]) -> np.ndarray:
    return np.column_stack([table.column(f"score_{label}").to_numpy(zero_copy_only=False) for label in labels])


@pytest.fixture(scope="module")
def other_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_corpus_dir: Path) -> ModelBundle:
    """A bundle the batch hashing does not support (word 1-3-grams, character n-grams): the fallback path."""
    from training.config import TrainingConfig
    from training.data import load_labeled
    from training.train import train

    config = TrainingConfig(folds=2, ngram_range=(1, 3), char_ngrams=True, n_features=2**12)
    return train(load_labeled(tiny_corpus_dir), config).bundle


@pytest.mark.parametrize("which", ["tiny", "fallback"])
def test_scores_equal_the_bundle_frame_path(which: str, tiny_bundle: ModelBundle, other_bundle: ModelBundle) -> None:
    bundle = tiny_bundle if which == "tiny" else other_bundle
    frame = comments_frame()
    scored = ChunkScorer(bundle).score(batch_of(frame))
    expected = np.round(bundle.score_frame(frame), 6)
    assert scored.table.column_names == list(SCORE_COLUMNS)
    assert np.array_equal(scores_of(scored.table, bundle.labels), expected)
    assert scored.table.column("label").to_pylist() == [bundle.labels[i] for i in expected.argmax(axis=1)]
    assert scored.table.column("action").to_pylist() == list(bundle.actions(bundle.score_frame(frame)))
    assert scored.table.column("error").null_count == len(frame)


def test_a_parent_outside_the_batch_is_used_through_its_text(tiny_bundle: ModelBundle) -> None:
    frame = comments_frame()
    replies = frame[frame["parent_id"] != ""].copy()
    texts = dict(zip(frame["comment_id"], frame["text"], strict=True))
    replies["parent_text"] = [texts[p] for p in replies["parent_id"]]
    scored = ChunkScorer(tiny_bundle).score(batch_of(replies))
    assert np.array_equal(scores_of(scored.table, tiny_bundle.labels), np.round(tiny_bundle.score_frame(replies), 6))
    assert scored.counts.parents_not_found == 0
    # Without the text the replies are top-level comments, and counted as such.
    alone = ChunkScorer(tiny_bundle).score(batch_of(replies.drop(columns=["parent_text"])))
    assert alone.counts.parents_not_found == len(replies)
    assert not np.array_equal(scores_of(alone.table, tiny_bundle.labels), scores_of(scored.table, tiny_bundle.labels))


def test_rows_that_cannot_be_scored_keep_their_place_and_say_why(tiny_bundle: ModelBundle) -> None:
    frame = pd.DataFrame({
        "comment_id": ["a", "b", "c", "d", "e", "f"],
        "article_id": ["budget", "budget", "nowhere", "", "derby", "budget"],
        "parent_id": ["", "", "", "", "", "a"],
        "text": ["Taxes went up 3 percent again.", " \u200b\t ", "Hello?", "No article", None, "Agreed."],
    })
    reader_problem = Problem("invalid UTF-8", "line 7: invalid UTF-8 (byte 0xff at column 2)")
    problems = [None, None, None, None, None, reader_problem]
    scored = ChunkScorer(tiny_bundle).score(batch_of(frame, problems=problems))
    table = scored.table
    assert table.num_rows == len(frame)
    assert table.column("error").to_pylist() == [
        None, "empty text", "unknown article 'nowhere'", "missing article id", "empty text", reader_problem.message,
    ]
    assert table.column("label").to_pylist()[1:] == [None] * 5
    assert table.column("label")[0].as_py() in LABELS
    assert np.isnan(scores_of(table, LABELS)[1:]).all() and not np.isnan(scores_of(table, LABELS)[0]).any()
    assert dict(scored.counts.errors) == {"empty text": 2, "unknown article": 1, "missing article id": 1,
                                          "invalid UTF-8": 1}
    assert scored.counts.rows == 6 and sum(scored.counts.labels.values()) == 1


def test_unscorable_rows_do_not_change_the_scores_of_the_others(tiny_bundle: ModelBundle) -> None:
    frame = comments_frame()
    noisy = pd.concat([frame.iloc[:10], pd.DataFrame({"comment_id": ["x"], "article_id": ["gone"], "parent_id": [""],
                                                       "text": ["An orphan"]}), frame.iloc[10:]], ignore_index=True)
    clean = ChunkScorer(tiny_bundle).score(batch_of(frame)).table
    mixed = ChunkScorer(tiny_bundle).score(batch_of(noisy)).table
    kept = [i for i in range(len(noisy)) if i != 10]
    assert np.array_equal(scores_of(mixed.take(kept), tiny_bundle.labels), scores_of(clean, tiny_bundle.labels))


def test_an_article_changed_under_the_same_id_is_vectorised_again(tiny_bundle: ModelBundle) -> None:
    scorer = ChunkScorer(tiny_bundle, article_cache_size=1)
    frame = comments_frame()
    first = scorer.score(batch_of(frame)).table
    swapped = dict(ARTICLES, budget=Article("budget", ARTICLES["derby"].title, ARTICLES["derby"].body))
    second = scorer.score(batch_of(frame, articles=swapped)).table
    budget = np.flatnonzero(frame["article_id"].to_numpy() == "budget")
    assert not np.array_equal(scores_of(first.take(budget), LABELS), scores_of(second.take(budget), LABELS))
    assert scorer.score(batch_of(frame)).table.equals(first)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*ARTICLES, "missing"]), st.text(max_size=40)), min_size=1, max_size=25))
def test_one_row_per_input_row_and_scores_sum_to_one(tiny_bundle: ModelBundle, rows: list[tuple[str, str]]) -> None:
    frame = pd.DataFrame({"article_id": [a for a, _ in rows], "text": [t for _, t in rows]})
    table = ChunkScorer(tiny_bundle).score(batch_of(frame)).table
    assert table.num_rows == len(rows)
    scores = scores_of(table, tiny_bundle.labels)
    scored = table.column("error").is_null().to_numpy(zero_copy_only=False)
    assert np.allclose(scores[scored].sum(axis=1), 1.0, atol=1e-5)
    assert np.isnan(scores[~scored]).all()
    assert all((label is None) == (error is not None)
               for label, error in zip(table.column("label").to_pylist(), table.column("error").to_pylist(),
                                       strict=True))
