"""The service path (an ArticleContext with a running thread) and the batch path (a frame) score alike.

A comment classified after its thread arrived call by call must get the scores it gets when the whole thread is
scored at once as a frame: otherwise the figures measured in batch would not describe the service.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.bundle import ModelBundle
from model.context import ArticleContext
from model.fast.small_batch import SmallBatchFeatures
from model.term_buckets import term_analyzer
from model.text import normalize_texts
from model.types import Article, Comment
from tests.model.test_hostile_cues import HOSTILE_TEXTS

ARTICLE = Article("budget", "Council passes city budget after long night",
                  "The city council voted 5-2 to pass a budget that raises property taxes and cuts library hours.")
THREAD = [
    Comment("1", "Property taxes up again and the library loses Sundays, great work council"),
    Comment("2", "The pension bill has to be paid by someone.", parent_id="1"),
    Comment("3", "Who else watched the derby? What a header."),
    Comment("4", "Earn $400 a day from home, whatsapp me"),
    Comment("5", "Exactly.", parent_id="2"),
]


def frame_of(comments: list[Comment]) -> pd.DataFrame:
    return pd.DataFrame({
        "text": [c.text for c in comments], "article_key": ARTICLE.id, "title": ARTICLE.title,
        "body": ARTICLE.body, "comment_id": [c.id for c in comments],
        "parent_id": [c.parent_id or "" for c in comments],
    })


@pytest.fixture(scope="module")
def bundle(tiny_bundle: ModelBundle) -> ModelBundle:
    return tiny_bundle


def test_thread_built_call_by_call_scores_like_the_whole_frame(bundle: ModelBundle) -> None:
    context = bundle.article_context(ARTICLE)
    for comment in THREAD[:-1]:
        bundle.classify(ARTICLE, [comment], context=context, remember=True)
    last = bundle.classify(ARTICLE, [THREAD[-1]], context=context)[0]
    whole = bundle.score_frame(frame_of(THREAD))[-1]
    np.testing.assert_allclose([last.scores[label] for label in bundle.labels], whole, atol=1e-5)


def test_one_call_with_the_whole_thread_scores_like_the_frame(bundle: ModelBundle) -> None:
    results = bundle.classify(ARTICLE, THREAD)
    frame_scores = bundle.score_frame(frame_of(THREAD))
    for result, row in zip(results, frame_scores, strict=True):
        np.testing.assert_allclose([result.scores[label] for label in bundle.labels], row, atol=1e-5)


# -- the small-batch path of a service request against the batch path ---------------------------------------------
CORPUS = Path(__file__).resolve().parents[3] / "data" / "labeled"


def corpus_requests(articles: int = 10) -> list[tuple[Article, list[Comment]]]:
    """Real threads of data/labeled, cut into requests of 1-6 comments in their order (replies keep parents)."""
    rng = random.Random(7)
    rows = [json.loads(line) for line in (CORPUS / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    comments = [json.loads(line) for line in (CORPUS / "comments.jsonl").read_text(encoding="utf-8").splitlines()]
    requests = []
    for row in rows[:articles]:
        article = Article(row["article_id"], row["title"], row["body"])
        thread = [Comment(c["comment_id"], c["text"], c.get("parent_id")) for c in comments
                  if c["article_id"] == article.id]
        start = 0
        while start < len(thread):
            size = rng.randint(1, 6)
            requests.append((article, thread[start : start + size]))
            start += size
    return requests


def replay(bundle: ModelBundle, requests: list[tuple[Article, list[Comment]]]) -> list[tuple[str, list[float],
                                                                                                list[str]]]:
    contexts: dict[str, ArticleContext] = {}
    out = []
    for article, comments in requests:
        context = contexts.setdefault(article.id, bundle.article_context(article))
        for result in bundle.classify(article, comments, context=context, remember=True):
            out.append((result.label, [result.scores[label] for label in bundle.labels], result.reasons))
    return out


def test_small_batch_path_gives_what_the_batch_path_gives(bundle: ModelBundle,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    requests = corpus_requests()
    assert sum(1 for _, comments in requests for c in comments if c.parent_id) > 50  # replies are exercised
    small = replay(bundle, requests)
    monkeypatch.setattr("model.bundle.SMALL_BATCH_MAX", 0)
    batch = replay(bundle, requests)
    assert len(small) == len(batch) > 300
    for (label, scores, reasons), (batch_label, batch_scores, batch_reasons) in zip(small, batch, strict=True):
        assert label == batch_label
        np.testing.assert_allclose(scores, batch_scores, atol=2e-6)
        assert reasons == batch_reasons


def test_small_batch_path_keeps_each_article_in_its_own_thread(bundle: ModelBundle,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Comments under three articles in one call (as the service batches them), with a parent from before."""
    other = Article("derby", "Derby ends level after late header", "A late header from the captain rescued a draw.")

    def run() -> list[list[float]]:
        budget, derby = bundle.article_context(ARTICLE), bundle.article_context(other)
        bundle.classify(ARTICLE, THREAD[:2], context=budget, remember=True)
        jobs = [
            (budget, [Comment("6", "Fine, but who pays for the library then?", parent_id="1")]),
            (derby, [Comment("d1", "What a header from the captain"), Comment("d2", "Deserved it.", parent_id="d1")]),
            (budget, [Comment("7", "Earn $400 a day from home, whatsapp me")]),
        ]
        return [[r.scores[label] for label in bundle.labels]
                for results in bundle.classify_many(jobs, remember=True) for r in results]

    small = run()
    monkeypatch.setattr("model.bundle.SMALL_BATCH_MAX", 0)
    np.testing.assert_allclose(small, run(), atol=2e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=200), min_size=1, max_size=8))
def test_small_batch_terms_equal_the_hashing_vectorizer(bundle: ModelBundle, texts: list[str]) -> None:
    features = bundle.pipeline.named_steps["features"]
    normalised = normalize_texts(texts)
    expected, expected_totals = features.vectorize(normalised)
    rows, totals = SmallBatchFeatures(features).vectorize(normalised)
    actual = rows.to_csr()
    np.testing.assert_array_equal(actual.indptr, expected.indptr)
    np.testing.assert_array_equal(actual.indices, expected.indices)
    np.testing.assert_allclose(actual.data, expected.data, rtol=1e-12)
    np.testing.assert_array_equal(totals, expected_totals)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_term_analyzer_equals_the_hashers_own(bundle: ModelBundle, text: str) -> None:
    hasher = bundle.pipeline.named_steps["features"].hasher_
    assert term_analyzer(hasher)(text) == hasher.build_analyzer()(text)


def test_a_long_thread_keeps_its_running_sums_exact(bundle: ModelBundle) -> None:
    """The thread's squared norm and background product are updated per call, never recomputed: after a
    thousand calls they must still equal what the summed vector gives."""
    features = bundle.pipeline.named_steps["features"]
    requests = corpus_requests(articles=63)
    context = bundle.article_context(ARTICLE)
    for index, (_, comments) in enumerate(requests[:1000]):
        renamed = [Comment(f"{index}-{c.id}", c.text) for c in comments]
        bundle.classify(ARTICLE, renamed, context=context, explain=False, remember=True)
    state = context.thread_state()
    assert state.count > 2000
    np.testing.assert_allclose(state.squared_norm, float(state.data @ state.data), rtol=1e-9)
    np.testing.assert_allclose(state.background_dot, float(features.background_[state.indices] @ state.data),
                               rtol=1e-9)
    assert np.all(np.diff(state.indices) > 0)  # still sorted and distinct


# -- hostile texts through the whole classify path (issue 15) ------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    # the adversarial texts the cue tests are built from: long digit runs, separators, look-alikes, near misses
    HOSTILE_TEXTS,
    st.sampled_from(["👍", "!!!", "+1", "?", "a", "..."]),
), min_size=1, max_size=4))
def test_hostile_texts_score_alike_on_the_service_and_frame_paths(bundle: ModelBundle, texts: list[str]) -> None:
    """The small-batch path (what a request runs) and the frame path (training and batch) agree on any text."""
    comments = [*THREAD[:2], *(Comment(f"h{i}", text, parent_id="1" if i % 2 else None)
                               for i, text in enumerate(texts))]
    comments = [c for c in comments if c.text.strip()]
    results = bundle.classify(ARTICLE, comments)
    frame_scores = bundle.score_frame(frame_of(comments))
    for result, row in zip(results, frame_scores, strict=True):
        np.testing.assert_allclose([result.scores[label] for label in bundle.labels], row, atol=1e-5)
