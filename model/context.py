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

import numpy as np
import scipy.sparse as sp

from model.types import Article

#: Comments per article whose vectors are kept for parent look-ups; older ones still count in the thread sum.
MAX_REMEMBERED = 5000


@dataclass(frozen=True)
class ThreadState:
    """A snapshot of a thread: the sum of its comment vectors (1 × F), that sum's squared norm, its size."""

    vector_sum: sp.csr_matrix
    squared_norm: float
    count: int


@dataclass
class ArticleContext:
    """An article's vectors plus its thread so far; safe to share between threads."""

    article: Article
    title_vector: sp.csr_matrix
    body_vector: sp.csr_matrix
    _sum_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32), repr=False)
    _sum_data: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64), repr=False)
    _count: int = 0
    _known: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def thread_count(self) -> int:
        return self._count

    @property
    def width(self) -> int:
        return int(self.title_vector.shape[1])

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
            indices, data = self._sum_indices, self._sum_data
            count = self._count
        vector = sp.csr_matrix((data, indices, np.array([0, len(data)])), shape=(1, self.width))
        return ThreadState(vector_sum=vector, squared_norm=float(data @ data), count=count)

    def remember(self, comment_ids: Sequence[str], vectors: sp.csr_matrix) -> None:
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
            self._sum_indices, self._sum_data = _merged(
                self._sum_indices, self._sum_data, np.concatenate(pieces_indices), np.concatenate(pieces_data)
            )
            self._count += len(added)
            while len(self._known) > MAX_REMEMBERED:
                self._known.popitem(last=False)


def _merged(indices: np.ndarray, data: np.ndarray, new_indices: np.ndarray, new_data: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted sparse vector (indices, data) plus unsorted entries, as new arrays (snapshots stay valid).

    Costs O(len(new) · log len(indices)) plus one copy, not a re-sort of the whole thread sum.
    """
    unique, inverse = np.unique(new_indices, return_inverse=True)
    added = np.bincount(inverse, weights=new_data, minlength=len(unique))
    positions = np.searchsorted(indices, unique)
    clipped = np.minimum(positions, max(len(indices) - 1, 0))
    found = (positions < len(indices)) & (indices[clipped] == unique) if len(indices) else np.zeros(len(unique), bool)
    data = data.copy()
    data[positions[found]] += added[found]
    missing = ~found
    return (np.insert(indices, positions[missing], unique[missing]).astype(np.int32),
            np.insert(data, positions[missing], added[missing]))
