"""Reasons a moderator can read: the features that pushed a decision most.

For a linear model these are exact. The log-odds of class k are a sum over features of x_j · w_kj; measured
against the average of all classes (w_kj − mean_l w_lj), each term says how much feature j moved the comment
toward k. Dense features are centred on the training mean, so "similarity to the article is low" is a
contribution too, not an absence. Hashed term buckets are named back by hashing the comment's own terms.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from model.features import CommentContextFeatures

_MIN_CONTRIBUTION = 0.05
# A dense feature below its average is a reason only where "low" means something to a moderator: a comment
# far from its article is a reason to call it off-topic; a comment without a link is no reason for anything.
_LOW_IS_A_REASON = ("similarity", "share of words", "parent's similarity")


class Explainer:
    """Built once per bundle: the centred weights and a hasher that maps a term to its bucket."""

    def __init__(self, features: CommentContextFeatures, weights: np.ndarray, max_reasons: int = 4) -> None:
        self.features = features
        self.centred = weights - weights.mean(axis=0, keepdims=True)
        self.max_reasons = max_reasons
        self._analyzer = features.hasher_.build_analyzer()
        self._bucket_hasher = FeatureHasher(
            n_features=features.n_features, input_type="string", alternate_sign=False
        )
        self._dense_start = features.n_features_out_ - len(features.dense_names_)

    def reasons(self, matrix: sp.csr_matrix, predicted: np.ndarray, texts: list[str],
                is_reply: np.ndarray | None = None) -> list[list[str]]:
        """Up to `max_reasons` short phrases per row, strongest first, for the row's predicted class."""
        out: list[list[str]] = []
        for row in range(matrix.shape[0]):
            self._reply = bool(is_reply[row]) if is_reply is not None else True
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            columns = matrix.indices[start:end]
            values = matrix.data[start:end]
            contributions = values * self.centred[predicted[row], columns]
            order = np.argsort(-contributions)[: self.max_reasons * 3]
            chosen = [(int(columns[i]), float(contributions[i]), float(values[i])) for i in order
                      if contributions[i] > _MIN_CONTRIBUTION and self._meaningful(int(columns[i]), values[i])]
            out.append(self._describe(chosen[: self.max_reasons], texts[row]))
        return out

    def _meaningful(self, column: int, value: float) -> bool:
        if column < self._dense_start:
            return True
        name = self.features.dense_names_[column - self._dense_start]
        if "parent" in name and not self._reply:
            return False  # a top-level comment has no parent to be near or far from
        return value > 0 or name.startswith(_LOW_IS_A_REASON)

    def _describe(self, chosen: list[tuple[int, float, float]], text: str) -> list[str]:
        term_columns = {column for column, _, _ in chosen if column < self.features.n_features}
        names = self._term_names(text, term_columns) if term_columns else {}
        phrases = []
        for column, contribution, value in chosen:
            if column < self.features.n_features:
                phrases.append(f'word "{names.get(column, "?")}" ({contribution:+.2f})')
            elif column >= self._dense_start:
                name = self.features.dense_names_[column - self._dense_start]
                level = "high" if value > 0 else "low"
                phrases.append(f"{name}: {level} ({contribution:+.2f})")
            else:
                phrases.append(f"character pattern ({contribution:+.2f})")
        return phrases

    def _term_names(self, text: str, wanted: set[int]) -> dict[int, str]:
        terms = list(dict.fromkeys(self._analyzer(text)))
        if not terms:
            return {}
        buckets = self._bucket_hasher.transform([[t] for t in terms]).indices
        return {int(b): t for t, b in zip(terms, buckets, strict=True) if int(b) in wanted}
