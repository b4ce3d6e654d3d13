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
        centred = weights - weights.mean(axis=0, keepdims=True)
        self._dense_start = features.n_features_out_ - len(features.dense_names_)
        self._term_weights = np.ascontiguousarray(centred[:, : self._dense_start])
        self._dense_weights = np.ascontiguousarray(centred[:, self._dense_start :])
        self.max_reasons = max_reasons
        self._analyzer = features.hasher_.build_analyzer()
        self._bucket_hasher = FeatureHasher(
            n_features=features.n_features, input_type="string", alternate_sign=False
        )
        names = features.dense_names_
        self._needs_parent = np.array(["parent" in name or name == "short reply" for name in names])
        self._needs_thread = np.array(["thread" in name for name in names])
        self._low_is_a_reason = np.array([name.startswith(_LOW_IS_A_REASON) for name in names])

    def reasons(self, terms: sp.csr_matrix, dense: np.ndarray, predicted: np.ndarray, texts: list[str],
                is_reply: np.ndarray, has_thread: np.ndarray) -> list[list[str]]:
        """Up to `max_reasons` short phrases per row, strongest first, for the row's predicted class."""
        dense_contributions = dense * self._dense_weights[predicted]
        # A feature that cannot apply (parent features of a top-level comment, thread features of a lone
        # comment) or whose "low" means nothing (no link is no reason) is never offered as a reason.
        usable = (dense > 0) | self._low_is_a_reason
        usable &= ~(self._needs_parent & ~is_reply[:, None])
        usable &= ~(self._needs_thread & ~has_thread[:, None])
        dense_contributions = np.where(usable, dense_contributions, 0.0)
        out: list[list[str]] = []
        for row in range(terms.shape[0]):
            start, end = terms.indptr[row], terms.indptr[row + 1]
            columns = terms.indices[start:end]
            term_contributions = terms.data[start:end] * self._term_weights[predicted[row], columns]
            candidates: list[tuple[float, int, float | None]] = [
                (float(c), int(col), None) for c, col in zip(term_contributions, columns, strict=True)
            ]
            candidates += [(float(c), col, float(dense[row, col])) for col, c in enumerate(dense_contributions[row])]
            chosen = sorted((c for c in candidates if c[0] > _MIN_CONTRIBUTION), reverse=True)[: self.max_reasons]
            out.append(self._describe(chosen, texts[row]))
        return out

    def _describe(self, chosen: list[tuple[float, int, float | None]], text: str) -> list[str]:
        term_columns = {column for _, column, value in chosen if value is None}
        names = self._term_names(text, term_columns) if term_columns else {}
        phrases = []
        for contribution, column, value in chosen:
            if value is not None:
                level = "high" if value > 0 else "low"
                phrases.append(f"{self.features.dense_names_[column]}: {level} ({contribution:+.2f})")
            elif column < self.features.n_features:
                phrases.append(f'word "{names.get(column, "?")}" ({contribution:+.2f})')
            else:
                phrases.append(f"character pattern ({contribution:+.2f})")
        return phrases

    def _term_names(self, text: str, wanted: set[int]) -> dict[int, str]:
        terms = list(dict.fromkeys(self._analyzer(text)))
        if not terms:
            return {}
        buckets = self._bucket_hasher.transform([[t] for t in terms]).indices
        return {int(b): t for t, b in zip(terms, buckets, strict=True) if int(b) in wanted}
