"""What is computed once per article and kept between calls: its vectors and the running sum of its thread.

A thread of 500 comments arriving one request at a time must not re-vectorise the article, or the 499 earlier
comments, 500 times. The context keeps the article's vectors, the sum, squared norm and count of the comment
vectors seen so far (the thread features only need those), and the most recent comment vectors by id, so a
reply can name a parent from an earlier call. Everything a call reads is taken under one lock, so concurrent
calls see a consistent thread.

The sum is kept in two sorted parts, a large one and a recent one: a call adds its comments to the recent part
(a copy the size of that part) and folds it into the large one only past a few thousand entries, so a
busy thread of 100,000 comments does not copy its whole sum on every call. Parts are never changed once
published: a snapshot stays valid while later calls add to the thread.

A thread can also start from a stored sum (`restore_thread`, what the service keeps in its database), so a
context is rebuilt without analysing a single comment text again; comments read back from storage become known
as parents with `recall` (already in the sum) or `add_parent` (outside it). A comment id sent again is an edit:
its new vector replaces the old one in the sum.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from model.types import Article


class CsrRows(Protocol):
    """Rows of term vectors in CSR layout: a scipy CSR matrix or a `model.fast.small_batch.TermRows`."""

    @property
    def indptr(self) -> np.ndarray: ...
    @property
    def indices(self) -> np.ndarray: ...
    @property
    def data(self) -> np.ndarray: ...
    @property
    def shape(self) -> tuple[int, int]: ...

#: Comments per article whose vectors are kept for parent look-ups; older ones still count in the thread sum.
MAX_REMEMBERED = 5000


#: The recent part of a thread's sum is folded into the large part past this size: per call, the copy of the recent
#: part and the large part's copy spread over the calls between two folds are then both a few thousand entries.
_RECENT_MAX_ENTRIES = 16384

SparseVector = tuple[np.ndarray, np.ndarray]  # sorted distinct term ids, values


@dataclass(frozen=True)
class ThreadState:
    """A snapshot of a thread: the sum of its comment vectors as sparse parts (sorted term ids and values; the
    sum is their total), that sum's squared norm and its product with the background vector (when the context
    has one), and the thread's size."""

    parts: tuple[SparseVector, ...]
    squared_norm: float
    background_dot: float
    count: int
    width: int

    @property
    def indices(self) -> np.ndarray:
        return self._combined()[0]

    @property
    def data(self) -> np.ndarray:
        return self._combined()[1]

    @property
    def vector_sum(self) -> sp.csr_matrix:
        """The sum as a 1 × F sparse row."""
        indices, data = self._combined()
        return sp.csr_matrix((data, indices, np.array([0, len(data)])), shape=(1, self.width))

    def _combined(self) -> SparseVector:
        indices, data = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64)
        for part_indices, part_data in self.parts:
            indices, data = _merged(indices, data, part_indices, part_data)
        return indices, data


@dataclass
class ArticleContext:
    """An article's vectors plus its thread so far; safe to share between threads."""

    article: Article
    title_vector: sp.csr_matrix
    body_vector: sp.csr_matrix
    #: The model's background vector (the average training comment); the thread keeps its product with it.
    background: np.ndarray | None = field(default=None, repr=False)
    _large: SparseVector = field(default_factory=lambda: _empty(), repr=False)
    _recent: SparseVector = field(default_factory=lambda: _empty(), repr=False)
    _sum_squared: float = 0.0
    _sum_background: float = 0.0
    _count: int = 0
    _article_terms: np.ndarray | None = field(default=None, repr=False)
    #: Vectors of comments in the thread sum, most recent last (for parents and edits).
    _known: OrderedDict[str, SparseVector] = field(default_factory=OrderedDict, repr=False)
    #: Vectors of comments outside the sum that replies named (e.g. stored before the model changed).
    _parents: OrderedDict[str, SparseVector] = field(default_factory=OrderedDict, repr=False)
    #: Ids of comments the sum counts whose vectors are not in memory (restored from storage).
    _unnamed: set[str] = field(default_factory=set, repr=False)
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

    def held_without_vector(self, comment_ids: Sequence[str]) -> list[str]:
        """Those of `comment_ids` that the thread sum counts but whose vectors are only in storage: sent again,
        they must be recalled first (`recall`) so that they are not compared with themselves."""
        with self._lock:
            return [i for i in comment_ids if i in self._unnamed] if self._unnamed else []

    def knows(self, comment_id: str) -> bool:
        with self._lock:
            return comment_id in self._known or comment_id in self._parents

    def known_vector(self, comment_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(indices, values) of a remembered comment's vector, or None."""
        with self._lock:
            vector = self._known.get(comment_id)
            return vector if vector is not None else self._parents.get(comment_id)

    def restore_thread(self, indices: np.ndarray, data: np.ndarray, count: int,
                       folded_ids: Sequence[str] = ()) -> None:
        """Start the thread from a stored sum of `count` comment vectors (sorted distinct term ids, values).

        Only on a context that has no thread yet; the comments behind the sum (`folded_ids`, as far as the store
        lists them) have no vectors in memory until `recall` or `remember` names them.
        """
        with self._lock:
            if self._count or self._known:
                raise ValueError("restore_thread needs a context without a thread")
            indices = np.asarray(indices, dtype=np.int32)
            data = np.asarray(data, dtype=np.float64)
            self._large, self._recent = (indices, data), _empty()
            self._sum_squared = float(data @ data)
            self._sum_background = float(self.background[indices] @ data) if self.background is not None else 0.0
            self._count = int(count)
            self._unnamed = set(folded_ids)

    def adopt_thread(self, other: ArticleContext) -> None:
        """Take the thread of `other` (a context of the same model, e.g. for the article's previous text).

        Comment vectors do not depend on the article, so an article whose text changed keeps its thread as it
        is: only the title and body vectors, which this context holds, are new.
        """
        with other._lock:
            state = (other._large, other._recent, other._sum_squared, other._sum_background, other._count,
                     OrderedDict(other._known), OrderedDict(other._parents), set(other._unnamed))
        with self._lock:
            if self._count or self._known:
                raise ValueError("adopt_thread needs a context without a thread")
            (self._large, self._recent, self._sum_squared, self._sum_background, self._count,
             self._known, self._parents, self._unnamed) = state

    def recall(self, comment_id: str, vector: SparseVector) -> None:
        """Know the vector of a comment that the thread sum already counts (read back from storage)."""
        with self._lock:
            self._unnamed.discard(comment_id)
            if comment_id not in self._known:
                self._parents.pop(comment_id, None)
                self._known[comment_id] = vector
                while len(self._known) > MAX_REMEMBERED:
                    self._known.popitem(last=False)

    def add_parent(self, comment_id: str, vector: SparseVector) -> None:
        """Know the vector of a comment that is not in the thread, so that replies can name it."""
        with self._lock:
            if comment_id not in self._known:
                self._parents[comment_id] = vector
                while len(self._parents) > MAX_REMEMBERED:
                    self._parents.popitem(last=False)

    def thread_state(self, excluding: Collection[str] = ()) -> ThreadState:
        """The thread as of now (a consistent snapshot; later `remember` calls do not change it).

        `excluding`: ids of comments being classified again. The thread already holds them, and a comment is
        compared with the *other* comments of its article, so their remembered vectors are taken out of the
        snapshot (sum, norms, count): a comment sent twice gets the answer it got the first time. Only comments
        whose vectors the context holds are taken out: the service first recalls those a restored sum counts
        (`held_without_vector`); one pushed out of memory past the last MAX_REMEMBERED still meets itself.
        """
        with self._lock:
            parts = tuple(part for part in (self._large, self._recent) if len(part[0]))
            squared, background, count = self._sum_squared, self._sum_background, self._count
            again = [self._known[i] for i in dict.fromkeys(excluding) if i in self._known]
            if again:
                unique, inverse = np.unique(np.concatenate([v[0] for v in again]), return_inverse=True)
                minus = (unique.astype(np.int32, copy=False),
                         -np.bincount(inverse, weights=np.concatenate([v[1] for v in again]), minlength=len(unique)))
                # ||S - K||² = ||S||² - 2 S·K + ||K||², as `remember` keeps it
                squared += 2.0 * sum(_dot(part, minus) for part in parts) + float(minus[1] @ minus[1])
                if self.background is not None:
                    background += float(self.background[minus[0]] @ minus[1])
                parts, count = (*parts, minus), count - len(again)
            return ThreadState(parts=parts, squared_norm=max(squared, 0.0), background_dot=background,
                               count=count, width=self.width)

    def remember(self, comment_ids: Sequence[str], vectors: CsrRows) -> None:
        """Add comments to the thread: their vectors join the sum and become available as parents.

        A comment id already in the thread is an edit, not a new comment: its new vector replaces the old one in
        the sum (an identical vector changes nothing), so an id sent again is never counted twice.
        """
        with self._lock:
            pieces_indices: list[np.ndarray] = []
            pieces_data: list[np.ndarray] = []
            added = 0
            for i, comment_id in enumerate(comment_ids):
                start, end = vectors.indptr[i], vectors.indptr[i + 1]
                row = (vectors.indices[start:end].copy(), vectors.data[start:end].copy())
                old = self._known.get(comment_id)
                if old is not None:
                    if np.array_equal(old[0], row[0]) and np.array_equal(old[1], row[1]):
                        continue
                    pieces_indices.append(old[0])
                    pieces_data.append(-old[1])
                    self._known.move_to_end(comment_id)
                else:
                    self._parents.pop(comment_id, None)
                    added += 1
                self._known[comment_id] = row
                pieces_indices.append(row[0])
                pieces_data.append(row[1])
            if not pieces_indices:
                return
            if len(pieces_indices) == 1:  # one comment: its terms are already distinct and sorted
                new_indices, new_data = pieces_indices[0], pieces_data[0]
            else:
                unique, inverse = np.unique(np.concatenate(pieces_indices), return_inverse=True)
                new_indices = unique.astype(np.int32, copy=False)
                new_data = np.bincount(inverse, weights=np.concatenate(pieces_data), minlength=len(unique))
            # ||sum + new||² = ||sum||² + 2 sum·new + ||new||²: kept up to date per change (the cost follows the
            # new comments, not the thread) instead of recomputed per read.
            cross = sum(_dot(part, (new_indices, new_data)) for part in (self._large, self._recent))
            self._sum_squared += 2.0 * cross + float(new_data @ new_data)
            if self.background is not None:
                self._sum_background += float(self.background[new_indices] @ new_data)
            self._recent = _merged(*self._recent, new_indices, new_data)
            if len(self._recent[0]) > _RECENT_MAX_ENTRIES:
                self._large, self._recent = _merged(*self._large, *self._recent), _empty()
            self._count += added
            while len(self._known) > MAX_REMEMBERED:
                self._known.popitem(last=False)


def _empty() -> SparseVector:
    return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64)


def _dot(left: SparseVector, right: SparseVector) -> float:
    """Dot product of two sorted sparse vectors."""
    if len(left[0]) == 0 or len(right[0]) == 0:
        return 0.0
    positions = np.minimum(np.searchsorted(left[0], right[0]), len(left[0]) - 1)
    hit = left[0][positions] == right[0]
    return float(left[1][positions[hit]] @ right[1][hit])


def _merged(indices: np.ndarray, data: np.ndarray, new_indices: np.ndarray, new_data: np.ndarray) -> SparseVector:
    """Sorted sparse vector (indices, data) plus a sorted vector of distinct entries, as new arrays (snapshots
    stay valid).

    Costs O(len(new) · log len(indices)) plus one copy, not a re-sort.
    """
    positions = np.searchsorted(indices, new_indices)
    if len(indices):
        found = indices[np.minimum(positions, len(indices) - 1)] == new_indices
    else:
        found = np.zeros(len(new_indices), dtype=bool)
    at = positions[found]
    missing = ~found
    data = data.copy()
    data[at] += new_data[found]
    if not missing.any():
        return indices, data
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
    return merged_indices, merged_data
