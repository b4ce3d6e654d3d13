"""The pipeline factory: the one place that decides what a comment model is made of."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model.features import CommentContextFeatures


def make_pipeline(
    *,
    C: float = 16.0,
    class_weight: str | None = None,
    max_iter: int = 2000,
    random_state: int = 0,
    **feature_params: Any,
) -> Pipeline:
    """Context features (comment terms + article/parent/thread similarities + spam cues) and logistic regression.

    Defaults are the ones measured best on our corpus (grouped CV, docs/model.md): weak
    regularisation (C=16) and no class re-weighting, which over-predicted off-topic.
    `VarianceThreshold` drops the hash buckets no training comment uses: they would get zero weight anyway,
    and without them lbfgs fits about 6x faster. The bundle folds the selection back into full-width weights.
    """
    return Pipeline(
        [
            ("features", CommentContextFeatures(**feature_params)),
            ("select", VarianceThreshold()),
            (
                "classifier",
                LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, random_state=random_state),
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
