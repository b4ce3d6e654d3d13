"""Reasons a moderator can read: the features that pushed a decision most.

For a linear model these are exact. The log-odds of class k are a sum over features of x_j · w_kj; measured
against the average of all classes (w_kj − mean_l w_lj), each term says how much feature j moved the comment
toward k. Dense features are centred on the training mean, so "similarity to the article is low" is a
contribution too, not an absence. Hashed term buckets are named back by hashing the comment's own terms.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from model.context import CsrRows
from model.features import CommentContextFeatures
from model.term_buckets import TermBuckets, term_analyzer

_MIN_CONTRIBUTION = 0.05
# A dense feature below its average is a reason only where "low" means something to a moderator: a comment
# far from its article is a reason to call it off-topic; a comment without a link is no reason for anything.
_LOW_IS_A_REASON = ("similarity", "share of words", "parent's similarity")


def _strength(candidate: tuple[float, int, float | None]) -> float:
    return candidate[0]


class Explainer:
    """Built once per bundle: the centred weights and a hasher that maps a term to its bucket."""

    def __init__(self, features: CommentContextFeatures, weights: np.ndarray, max_reasons: int = 4, *,
                 centred: bool = True) -> None:
        """`weights`: one row per label. Softmax weights are centred on their mean over labels; weights that
        already are log-odds against the alternatives (the classifier's heads) are used as they are."""
        self.features = features
        centred_weights = weights - weights.mean(axis=0, keepdims=True) if centred else weights
        self._dense_start = features.n_features_out_ - len(features.dense_names_)
        self._term_weights = np.ascontiguousarray(centred_weights[:, : self._dense_start])
        self._dense_weights = np.ascontiguousarray(centred_weights[:, self._dense_start :])
        self.max_reasons = max_reasons
        self._analyzer = term_analyzer(features.hasher_)
        self._buckets = TermBuckets(features.n_features)
        names = features.dense_names_
        self._needs_parent = np.array(["parent" in name or name == "short reply" for name in names])
        self._needs_thread = np.array(["thread" in name for name in names])
        self._low_is_a_reason = np.array([name.startswith(_LOW_IS_A_REASON) for name in names])

    def reasons(self, terms: sp.csr_matrix | CsrRows, dense: np.ndarray, predicted: np.ndarray, texts: list[str],
                is_reply: np.ndarray, has_thread: np.ndarray) -> list[list[str]]:
        """Up to `max_reasons` short phrases per row, strongest first, for the row's predicted class."""
        dense_contributions = dense * self._dense_weights[predicted]
        # A feature that cannot apply (parent features of a top-level comment, thread features of a lone
        # comment) or whose "low" means nothing (no link is no reason) is never offered as a reason.
        usable = (dense > 0) | self._low_is_a_reason
        usable &= ~(self._needs_parent & ~is_reply[:, None])
        usable &= ~(self._needs_thread & ~has_thread[:, None])
        dense_contributions = np.where(usable, dense_contributions, 0.0)
        # Only contributions above the floor can be reasons: find those for the whole batch at once, then
        # sort each row's few candidates (strongest first; ties keep term order, then dense column order).
        n = terms.shape[0]
        entry_rows = np.repeat(np.arange(n), np.diff(terms.indptr))
        term_contributions = terms.data * self._term_weights[predicted[entry_rows], terms.indices]
        candidates: list[list[tuple[float, int, float | None]]] = [[] for _ in range(n)]
        strong = np.flatnonzero(term_contributions > _MIN_CONTRIBUTION)
        for row, column, contribution in zip(entry_rows[strong].tolist(), terms.indices[strong].tolist(),
                                             term_contributions[strong].tolist(), strict=True):
            candidates[row].append((contribution, column, None))
        rows, columns = np.nonzero(dense_contributions > _MIN_CONTRIBUTION)
        for row, column, contribution, value in zip(rows.tolist(), columns.tolist(),
                                                    dense_contributions[rows, columns].tolist(),
                                                    dense[rows, columns].tolist(), strict=True):
            candidates[row].append((contribution, column, value))
        known_terms = getattr(terms, "terms", None)  # (terms, buckets) per row, from model.fast.small_batch
        return [
            self._describe(sorted(row, key=_strength, reverse=True)[: self.max_reasons], texts[i],
                           known_terms[i] if known_terms is not None else None)
            for i, row in enumerate(candidates)
        ]

    def _describe(self, chosen: list[tuple[float, int, float | None]], text: str,
                  known_terms: tuple[list[str], list[int]] | None = None) -> list[str]:
        term_columns = {column for _, column, value in chosen if value is None}
        names = self._term_names(text, term_columns, known_terms) if term_columns else {}
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

    def _term_names(self, text: str, wanted: set[int],
                    known_terms: tuple[list[str], list[int]] | None = None) -> dict[int, str]:
        """The first term of the text in each wanted bucket."""
        if known_terms is None:
            terms = self._analyzer(text)
            known_terms = (terms, self._buckets.buckets(terms))
        names: dict[int, str] = {}
        for term, bucket in zip(*known_terms, strict=True):
            if bucket in wanted and bucket not in names:
                names[bucket] = term
        return names
