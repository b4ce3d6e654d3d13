"""The features of a handful of comments (one service request, or a few batched together), from plain arrays.

`CommentContextFeatures.transform_parts` is built for batches of thousands: it builds a dozen scipy sparse
matrices and runs eight sorted-key searches per call, set-up that costs about 1.5 ms whatever the batch size,
several times the arithmetic when a request holds one comment. This module gathers the same measures (dot
products with the article, the parent and the thread, shared-term counts) straight from sorted numpy arrays,
which costs tens of microseconds per call, and hands them to the same formulas
(`CommentContextFeatures.dense_columns`), so the two paths cannot drift apart: tests/model/test_paths_agree.py
checks that they give the same features for every comment of a corpus, replies and threads included.

Terms come from the bundle's own HashingVectorizer analyzer and are hashed as it hashes them
(`model.term_buckets`, cached: words repeat across comments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from model.context import ArticleContext, ThreadState
from model.context_measures import ContextMeasures
from model.features import CommentContextFeatures
from model.term_buckets import TermBuckets, term_analyzer
from model.weighting import weigh_entries

#: Batches up to this many comments take this path; larger ones amortise the batch path's set-up.
SMALL_BATCH_MAX = 64


@dataclass(frozen=True)
class TermRows:
    """Term vectors in CSR layout without a scipy matrix: row i is indices[indptr[i]:indptr[i + 1]] (sorted)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    width: int
    #: Each row's terms and their buckets, in text order, when the rows were vectorised here: the reasons name
    #: a term bucket by the word behind it without running the analyzer again.
    terms: list[tuple[list[str], list[int]]] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.width

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[i], self.indptr[i + 1]
        return self.indices[start:end], self.data[start:end]

    def to_csr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


@dataclass(frozen=True)
class Parent:
    """A reply's parent vector (sorted term ids, values)."""

    indices: np.ndarray
    data: np.ndarray


def supports(features: CommentContextFeatures) -> bool:
    """True when this path computes exactly what `features.transform_parts` does."""
    hasher = features.hasher_
    return bool(
        not features.char_ngrams
        and hasher.analyzer == "word"
        and not hasher.alternate_sign
        and hasher.norm is None
        and hasher.binary is False
    )


class SmallBatchFeatures:
    """Built once per bundle; `vectorize` and `measures` may be called from several threads."""

    def __init__(self, features: CommentContextFeatures) -> None:
        self.features = features
        self.width = int(features.n_features)
        self._analyzer = term_analyzer(features.hasher_)
        self._idf = np.asarray(features.idf_, dtype=np.float64)
        self._background = np.asarray(features.background_, dtype=np.float64)
        self._background_squared = float(self._background @ self._background)
        self._buckets = TermBuckets(self.width)

    def vectorize(self, texts: list[str]) -> tuple[TermRows, np.ndarray]:
        """L2-normalised TF-IDF rows of normalised texts and each text's term count (`features.vectorize`)."""
        n = len(texts)
        terms_per_text = [self._analyzer(text) for text in texts]
        buckets_per_text = [self._buckets.buckets(terms) for terms in terms_per_text]
        lengths = np.fromiter((len(terms) for terms in terms_per_text), dtype=np.int64, count=n)
        ids = np.fromiter((b for buckets in buckets_per_text for b in buckets), dtype=np.int64,
                          count=int(lengths.sum()))
        width = np.int64(self.width)
        keys, counts = np.unique(np.repeat(np.arange(n, dtype=np.int64), lengths) * width + ids, return_counts=True)
        rows = keys // width
        indices = (keys % width).astype(np.int32)
        data = weigh_entries(rows, indices, counts, self._idf, n)
        indptr = np.searchsorted(rows, np.arange(n + 1, dtype=np.int64)).astype(np.int64)
        rows_out = TermRows(indptr=indptr, indices=indices, data=data, width=self.width,
                            terms=list(zip(terms_per_text, buckets_per_text, strict=True)))
        return rows_out, lengths.astype(np.float64)

    def measures(self, rows: TermRows, totals: np.ndarray, groups: np.ndarray, contexts: list[ArticleContext],
                 parents: list[Parent | None], states: list[ThreadState]) -> ContextMeasures:
        """What `dense_columns` needs, for comments whose thread group (index into `contexts`) is `groups`;
        `states`: each context's thread as these comments meet it (`ArticleContext.thread_state`).

        Every comment meets only its own article and thread, so term ids are keyed by group (group · F + id):
        one sorted search then serves the comments of every article in the batch.
        """
        n = len(totals)
        distinct = np.diff(rows.indptr).astype(np.float64)
        measures = ContextMeasures.empty(n, distinct, np.asarray(totals, dtype=np.float64))
        if not self.features.context or n == 0:
            return measures
        width = np.int64(self.width)
        n_groups = len(contexts)
        entry_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(rows.indptr))
        indices, data = rows.indices, rows.data
        entry_groups = groups[entry_rows]
        keys = entry_groups * width + indices
        measures.own_squared = _sums(entry_rows, data * data, n)
        measures.own_background = _sums(entry_rows, data * self._background[indices], n)
        measures.background_squared = self._background_squared

        def keyed(vectors: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
            return (np.concatenate([g * width + v[0] for g, v in enumerate(vectors)]),
                    np.concatenate([v[1] for v in vectors]))

        title_keys, title_data = keyed([(c.title_vector.indices, c.title_vector.data) for c in contexts])
        body_keys, body_data = keyed([(c.body_vector.indices, c.body_vector.data) for c in contexts])
        article_keys = np.concatenate([g * width + c.article_terms for g, c in enumerate(contexts)])
        measures.sim_title = _dots(entry_rows, keys, data, title_keys, title_data, n)
        measures.sim_body = _dots(entry_rows, keys, data, body_keys, body_data, n)
        measures.shared_article = _shared(entry_rows, keys, article_keys, n)

        # The thread: this batch's comments (summed per group and term) plus each context's remembered sum.
        batch_keys, inverse = np.unique(keys, return_inverse=True)
        batch_data = _sums(inverse, data, len(batch_keys))
        batch_groups = batch_keys // width
        batch_indices = batch_keys % width
        dot = _sums(entry_rows, data * batch_data[inverse], n)
        total_squared = _sums(batch_groups, batch_data * batch_data, n_groups)
        total_background = _sums(batch_groups, batch_data * self._background[batch_indices], n_groups)
        counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
        for group, (context, state) in enumerate(zip(contexts, states, strict=True)):
            counts[group] += state.count
            if not state.parts:
                continue
            if n_groups == 1:
                selected, in_group = slice(None), slice(None)
            else:
                selected, in_group = entry_groups == group, batch_groups == group
            cross = 0.0
            for part_indices, part_data in state.parts:
                dot += _dots(entry_rows[selected], indices[selected], data[selected], part_indices, part_data, n)
                cross += _dots(np.zeros(len(batch_indices[in_group]), dtype=np.int64), batch_indices[in_group],
                               batch_data[in_group], part_indices, part_data, 1)[0]
            total_squared[group] += state.squared_norm + 2.0 * cross
            total_background[group] += (state.background_dot if context.background is not None
                                        else float(self._background[state.indices] @ state.data))
        measures.thread_dot = dot
        measures.thread_squared = total_squared[groups]
        measures.thread_background = total_background[groups]
        measures.thread_count = counts[groups]
        for i, parent in enumerate(parents):
            if parent is not None:
                self._parent(measures, i, context_of=contexts[groups[i]], rows=rows, parent=parent)
        return measures

    def _parent(self, measures: ContextMeasures, i: int, *, context_of: ArticleContext, rows: TermRows,
                parent: Parent) -> None:
        indices, data = rows.row(i)
        measures.is_reply[i] = 1.0
        if len(parent.indices) and len(indices):
            positions = np.minimum(np.searchsorted(parent.indices, indices), len(parent.indices) - 1)
            hit = parent.indices[positions] == indices
            measures.sim_parent[i] = float(np.sum(data[hit] * parent.data[positions[hit]]))
            measures.shared_parent[i] = float(np.count_nonzero(hit))
        zero = np.zeros(len(parent.indices), dtype=np.int64)
        title, body = context_of.title_vector, context_of.body_vector
        measures.parent_sim_article[i] = max(
            _dots(zero, parent.indices, parent.data, body.indices, body.data, 1)[0],
            _dots(zero, parent.indices, parent.data, title.indices, title.data, 1)[0],
        )


def _dots(entry_rows: np.ndarray, indices: np.ndarray, data: np.ndarray, target_indices: np.ndarray,
          target_data: np.ndarray, n: int) -> np.ndarray:
    """Per row, the dot product of its entries with one sorted sparse target vector."""
    if len(indices) == 0 or len(target_indices) == 0:
        return np.zeros(n)
    positions = np.searchsorted(target_indices, indices)
    np.minimum(positions, len(target_indices) - 1, out=positions)
    hit = target_indices[positions] == indices
    return _sums(entry_rows[hit], data[hit] * target_data[positions[hit]], n)


def _shared(entry_rows: np.ndarray, indices: np.ndarray, target_indices: np.ndarray, n: int) -> np.ndarray:
    """Per row, how many of its terms the sorted target has."""
    if len(indices) == 0 or len(target_indices) == 0:
        return np.zeros(n)
    positions = np.minimum(np.searchsorted(target_indices, indices), len(target_indices) - 1)
    hit = target_indices[positions] == indices
    return np.bincount(entry_rows[hit], minlength=n).astype(np.float64)


def _sums(rows: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per row, the sum of its weights, always as float64.

    `np.bincount` returns int64 zeros for an empty input even with float weights, and adding floats to that in
    place fails: a comment with no term (a "👍" reply) made every request holding one a 500.
    """
    return np.bincount(rows, weights=weights, minlength=n).astype(np.float64, copy=False)
