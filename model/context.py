"""What is computed once per article and kept between calls: its vectors and the running sum of its thread.

A thread of 500 comments arriving one request at a time must not re-vectorise the article, or the 499 earlier
comments, 500 times. The context keeps the article's vectors, the sum, squared norm and count of the comment
vectors seen so far (the thread features only need those), and the most recent comment vectors by id, so a
reply can name a parent from an earlier call. Everything a call reads is taken under one lock, so concurrent
calls see a consistent thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from model.types import Article


class CsrRows(Protocol):
    """Rows of term vectors in CSR layout: a scipy CSR matrix or a `model.small_batch.TermRows`."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

#: Comments per article whose vectors are kept for parent look-ups; older ones still count in the thread sum.
MAX_REMEMBERED = 5000


@dataclass(frozen=True)
class ThreadState:
    """A snapshot of a thread: the sum of its comment vectors (sorted term ids and values), that sum's squared
    norm and its product with the background vector (when the context has one), and the thread's size."""

    indices: np.ndarray
    data: np.ndarray
    squared_norm: float
    background_dot: float
    count: int
    width: int

    @property
    def vector_sum(self) -> sp.csr_matrix:
        """The sum as a 1 × F sparse row."""
        return sp.csr_matrix((self.data, self.indices, np.array([0, len(self.data)])), shape=(1, self.width))


@dataclass
class ArticleContext:
    """An article's vectors plus its thread so far; safe to share between threads."""

    article: Article
    title_vector: sp.csr_matrix
    body_vector: sp.csr_matrix
    #: The model's background vector (the average training comment); the thread keeps its product with it.
    background: np.ndarray | None = field(default=None, repr=False)
    _sum_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32), repr=False)
    _sum_data: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64), repr=False)
    _sum_squared: float = 0.0
    _sum_background: float = 0.0
    _count: int = 0
    _article_terms: np.ndarray | None = field(default=None, repr=False)
    _known: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def thread_count(self) -> int:
        return self._count

    @property
    def width(self) -> int:
        return int(self.title_vector.shape[1])

    @property
    def article_terms(self) -> np.ndarray:
        """Sorted term ids that the title or the body has."""
        if self._article_terms is None:
            self._article_terms = np.union1d(self.title_vector.indices, self.body_vector.indices)
        return self._article_terms

    def knows(self, comment_id: str) -> bool:
        with self._lock:
            return comment_id in self._known

    def known_vector(self, comment_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(indices, values) of a remembered comment's vector, or None."""
        with self._lock:
            return self._known.get(comment_id)

    def thread_state(self) -> ThreadState:
        """The thread as of now (a consistent snapshot; later `remember` calls do not change it)."""
        with self._lock:
            return ThreadState(indices=self._sum_indices, data=self._sum_data, squared_norm=self._sum_squared,
                               background_dot=self._sum_background, count=self._count, width=self.width)

    def remember(self, comment_ids: Sequence[str], vectors: CsrRows) -> None:
        """Add comments to the thread: their vectors join the sum and become available as parents.

        A comment id the context already knows is not counted twice.
        """
        with self._lock:
            added = [i for i, cid in enumerate(comment_ids) if cid not in self._known]
            if not added:
                return
            pieces_indices: list[np.ndarray] = []
            pieces_data: list[np.ndarray] = []
            for i in added:
                start, end = vectors.indptr[i], vectors.indptr[i + 1]
                row = (vectors.indices[start:end].copy(), vectors.data[start:end].copy())
                self._known[comment_ids[i]] = row
                pieces_indices.append(row[0])
                pieces_data.append(row[1])
            if len(pieces_indices) == 1:  # one comment: its terms are already distinct and sorted
                new_indices, new_data = pieces_indices[0], pieces_data[0]
            else:
                unique, inverse = np.unique(np.concatenate(pieces_indices), return_inverse=True)
                new_indices = unique
                new_data = np.bincount(inverse, weights=np.concatenate(pieces_data), minlength=len(unique))
            self._sum_indices, self._sum_data, squared_change = _merged(
                self._sum_indices, self._sum_data, new_indices, new_data
            )
            # Kept up to date per change (cost follows the new comments, not the thread), not recomputed per read.
            self._sum_squared += squared_change
            if self.background is not None:
                self._sum_background += float(self.background[new_indices] @ new_data)
            self._count += len(added)
            while len(self._known) > MAX_REMEMBERED:
                self._known.popitem(last=False)


def _merged(indices: np.ndarray, data: np.ndarray, new_indices: np.ndarray, new_data: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Sorted sparse vector (indices, data) plus a sorted vector of distinct entries, as new arrays (snapshots
    stay valid), and how much the squared norm changed.

    Costs O(len(new) · log len(indices)) plus one copy, not a re-sort of the whole thread sum.
    """
    positions = np.searchsorted(indices, new_indices)
    if len(indices):
        found = indices[np.minimum(positions, len(indices) - 1)] == new_indices
    else:
        found = np.zeros(len(new_indices), dtype=bool)
    at = positions[found]
    before = data[at]
    after = before + new_data[found]
    missing = ~found
    squared_change = float(after @ after - before @ before) + float(new_data[missing] @ new_data[missing])
    data = data.copy()
    data[at] = after
    if not missing.any():
        return indices, data, squared_change
    # Insert the new terms: each lands after as many new terms as come before it.
    targets = positions[missing] + np.arange(int(missing.sum()))
    size = len(indices) + len(targets)
    keep = np.ones(size, dtype=bool)
    keep[targets] = False
    merged_indices = np.empty(size, dtype=np.int32)
    merged_data = np.empty(size, dtype=np.float64)
    merged_indices[targets] = new_indices[missing]
    merged_data[targets] = new_data[missing]
    merged_indices[keep] = indices
    merged_data[keep] = data
    return merged_indices, merged_data, squared_change
