"""What is computed once per article and kept between calls: its vectors and the running sum of its thread.

A thread of 500 comments arriving one request at a time must not re-vectorise the article, or the 499 earlier
comments, 500 times. The context keeps the article's vectors, the sum and count of the comment vectors seen so
far (the thread features only need their sum) and the most recent comment vectors by id, so a reply can name a
parent from an earlier call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from model.errors import ClassifyError
from model.types import Article, Comment

#: Comments per article whose vectors are kept for parent look-ups; older ones still count in the thread sum.
MAX_REMEMBERED = 5000


@dataclass
class ArticleContext:
    """An article's vectors plus its thread so far; safe to share between threads."""

    article: Article
    title_vector: sp.csr_matrix
    body_vector: sp.csr_matrix
    thread_sum: sp.csr_matrix | None = None
    thread_count: int = 0
    known: OrderedDict[str, sp.csr_matrix] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def knows(self, comment_id: str) -> bool:
        with self._lock:
            return comment_id in self.known

    def thread_state(self) -> tuple[sp.csr_matrix, float]:
        """The thread's vector sum (1 × F) and its number of comments, as of now."""
        with self._lock:
            if self.thread_sum is None:
                return sp.csr_matrix(self.title_vector.shape, dtype=np.float64), 0.0
            return self.thread_sum, float(self.thread_count)

    def parent_rows(
        self, comments: Sequence[Comment], positions: Mapping[str, int], vectors: sp.csr_matrix
    ) -> tuple[np.ndarray, sp.csr_matrix]:
        """Row of each comment's parent in the returned matrix (-1 for none); unknown parents raise."""
        rows = np.full(len(comments), -1, dtype=np.int64)
        extra: list[sp.csr_matrix] = []
        extra_rows: dict[str, int] = {}
        with self._lock:
            for index, comment in enumerate(comments):
                parent = comment.parent_id
                if not parent:
                    continue
                if parent == comment.id:
                    raise ClassifyError(
                        f"comments[{index}].parent_id: a comment cannot reply to itself ({parent!r})",
                        field=f"comments[{index}].parent_id",
                    )
                if parent in positions:
                    rows[index] = positions[parent]
                elif parent in self.known:
                    if parent not in extra_rows:
                        extra_rows[parent] = len(comments) + len(extra)
                        extra.append(self.known[parent])
                    rows[index] = extra_rows[parent]
                else:
                    raise ClassifyError(
                        f"comments[{index}].parent_id: unknown parent {parent!r}: not in this request and not a "
                        f"comment seen before under article {self.article.id!r}",
                        field=f"comments[{index}].parent_id",
                    )
        if extra:
            return rows, sp.vstack([vectors, *extra], format="csr")
        return rows, vectors

    def remember(self, comment_ids: Sequence[str], vectors: sp.csr_matrix) -> None:
        """Add comments to the thread: their vectors join the sum and become available as parents."""
        with self._lock:
            added = [i for i, cid in enumerate(comment_ids) if cid not in self.known]
            if not added:
                return
            chosen = vectors[added]
            total = sp.csr_matrix(chosen.sum(axis=0))
            self.thread_sum = total if self.thread_sum is None else (self.thread_sum + total).tocsr()
            self.thread_sum.sort_indices()
            self.thread_count += len(added)
            for offset, i in enumerate(added):
                self.known[comment_ids[i]] = chosen[offset]
            while len(self.known) > MAX_REMEMBERED:
                self.known.popitem(last=False)
