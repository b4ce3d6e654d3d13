"""The service path (an ArticleContext with a running thread) and the batch path (a frame) score alike.

A comment classified after its thread arrived call by call must get the scores it gets when the whole thread is
scored at once as a frame: otherwise the figures measured in batch would not describe the service.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.bundle import ModelBundle
from model.types import Article, Comment

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
