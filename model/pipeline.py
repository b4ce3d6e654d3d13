"""The pipeline factory: the one place that decides what a comment model is made of."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model.classifier import SpamThenTopicClassifier
from model.features import CommentContextFeatures


def make_pipeline(
    *,
    C: float = 4.0,
    spam_C: float | None = 32.0,
    spam_weight: float = 3.0,
    class_weight: str | None = None,
    max_iter: int = 2000,
    random_state: int = 0,
    **feature_params: Any,
) -> Pipeline:
    """Context features (comment terms + article/parent/thread similarities + spam cues), then two logistic
    heads: spam from the comment's own terms, on/off topic from every column but the comment's length
    (`model.classifier`).

    No class re-weighting (it over-predicted off-topic, docs/model.md). The classifier fits only the columns
    some comment uses, which is what a VarianceThreshold step did before it (lbfgs about 6x faster).
    """
    features = CommentContextFeatures(**feature_params)
    return Pipeline(
        [
            ("features", features),
            (
                "classifier",
                SpamThenTopicClassifier(
                    C=C, spam_C=spam_C, spam_weight=spam_weight, spam_columns=features.term_columns(),
                    topic_ignores=features.length_columns(),
                    class_weight=class_weight, max_iter=max_iter, random_state=random_state,
                ),
            ),
        ]
    )


def make_baseline_pipeline(*, random_state: int = 0) -> Pipeline:
    """The naive baseline every figure is compared with: TF-IDF of the comment text alone + logistic regression.

    It reads only the `text` column, so it cannot know which article a comment sits under.
    """
    return Pipeline(
        [
            ("select", TextColumn()),
            ("tfidf", TfidfVectorizer()),
            ("classifier", LogisticRegression(max_iter=2000, random_state=random_state)),
        ]
    )


class TextColumn(TransformerMixin, BaseEstimator):
    """Pick the `text` column of a frame (a FunctionTransformer with a lambda would not pickle)."""

    def fit(self, X: Any, y: Any = None) -> TextColumn:
        return self

    def transform(self, X: Any) -> Any:
        return X["text"].fillna("").astype(str).to_numpy()
