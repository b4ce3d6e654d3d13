"""A reply's parent in a dump, wherever it sits in the input.

The rule is `model.linking`'s: the parent is the comment with the reply's `parent_id` under the same article.
Within a chunk the scorer links replies itself; for a reply whose parent is in another chunk, the parent's
text is handed to the scorer (`CommentBatch.parent_texts`), which vectorises it as it would have in the chunk.
Only scorable comments can be parents (read without a problem, text not empty once normalised), in a chunk or
not, so a reply to an empty comment is a top-level comment however the dump is cut.

A job reads the dump twice (the first pass adds up the threads, `batch.threads`), and the parents come with it:

    first pass    each chunk: count the replies whose parent is not in their chunk, by parent (`wanted`); keep the
                  text of each comment that replies in earlier chunks want (a parent that comes after a reply)
    second pass   each chunk: hand each reply whose parent is outside the chunk its parent's text; then keep the
                  text of each comment that replies in later chunks still want; a text is dropped as soon as the
                  last reply that wants it has been handed it

So memory grows with the parents that are in another chunk than one of their replies, for as long as such a
reply is still to come, not with the comments: in an export that keeps threads together, a handful per chunk
boundary; in a shuffled one, the parents that sit apart from their replies. Comment ids should be unique within
an article; if one repeats, a reply takes the copy in its own chunk, else the first copy kept.

The Dask engine does the same in three steps over its partitions (`wanted_parents`, `parent_texts_of`, then
`texts_for`), with a table of every parent that is in another partition than one of its replies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch.scorer import CommentBatch
from model.fast.batch_terms import as_text_array, normalize_batch
from model.linking import joined_keys


def comment_keys(batch: CommentBatch) -> pa.Array | None:
    """article id + U+001F + comment id for every row (None when the dump has no comment ids)."""
    if batch.comment_ids is None:
        return None
    return _keys(batch.article_ids, batch.comment_ids)


def outside_replies(batch: CommentBatch) -> tuple[pa.Array, np.ndarray] | None:
    """The parent key of every row, and which rows name a parent that is not among the batch's comments.

    None when no row does. The same test in both passes and in both engines: what the scorer cannot link
    within the batch is exactly what these rows are handed.
    """
    if batch.parent_ids is None:
        return None
    parent_ids = as_text_array(batch.parent_ids)
    has_parent = pc.fill_null(pc.not_equal(parent_ids, ""), False)
    if not pc.any(has_parent).as_py():
        return None
    parent_keys = _keys(batch.article_ids, parent_ids)
    keys = comment_keys(batch)
    if keys is None:
        outside = has_parent
    else:
        in_batch = pc.fill_null(pc.is_in(parent_keys, value_set=keys), False)
        outside = pc.and_(has_parent, pc.invert(in_batch))
    mask = pc.fill_null(outside, False).to_numpy(zero_copy_only=False)
    return (parent_keys, mask) if mask.any() else None


def wanted_parents(batch: CommentBatch) -> Counter[str]:
    """How many of the batch's replies name each parent that is not in the batch."""
    found = outside_replies(batch)
    if found is None:
        return Counter()
    parent_keys, mask = found
    return Counter(parent_keys.filter(pa.array(mask)).to_pylist())


def parent_texts_of(batch: CommentBatch, wanted: Mapping[str, object]) -> dict[str, str]:
    """Texts of the batch's scorable comments whose key is in `wanted` (the first copy of a repeated id)."""
    keys = comment_keys(batch)
    if keys is None or not wanted:
        return {}
    rows = np.flatnonzero(_members(keys, wanted))
    problems = batch.problems
    if problems is not None:
        rows = rows[[problems[int(i)] is None for i in rows]] if len(rows) else rows
    if not len(rows):
        return {}
    take = pa.array(rows)
    texts = as_text_array(batch.texts).take(take)
    scorable = pc.fill_null(pc.greater(pc.binary_length(normalize_batch(texts)), 0), False)
    found: dict[str, str] = {}
    for key, text, ok in zip(keys.take(take).to_pylist(), texts.to_pylist(), scorable.to_pylist(), strict=True):
        if ok and key is not None:
            found.setdefault(key, text)
    return found


def texts_for(batch: CommentBatch, texts: Mapping[str, str]) -> tuple[pa.Array | None, list[str]]:
    """`parent_texts` for a batch: the kept text of each outside parent (null if none is kept), and the keys
    that were asked for, one per reply."""
    found = outside_replies(batch)
    if found is None:
        return None, []
    parent_keys, mask = found
    rows = np.flatnonzero(mask)
    asked = parent_keys.take(pa.array(rows)).to_pylist()
    values: list[str | None] = [None] * len(batch)
    for row, key in zip(rows.tolist(), asked, strict=True):
        values[row] = texts.get(key)
    return pa.array(values, type=pa.string()), asked


class CrossChunkParents:
    """The texts of parents that sit in another chunk than a reply, over the two passes of a job (module doc)."""

    def __init__(self) -> None:
        self._wanted: Counter[str] = Counter()  # parent key -> replies in other chunks not yet handed its text
        self._texts: dict[str, str] = {}

    @property
    def kept(self) -> int:
        """Parent texts held now."""
        return len(self._texts)

    def note(self, batch: CommentBatch) -> None:
        """First pass, chunk by chunk in input order."""
        self._keep(batch)
        self._wanted.update(wanted_parents(batch))

    def texts_for(self, batch: CommentBatch) -> pa.Array | None:
        """Second pass, chunk by chunk in input order (chunks already written too): the batch's parent texts."""
        texts, asked = texts_for(batch, self._texts)
        for key in asked:
            left = self._wanted.pop(key, 0) - 1
            if left > 0:
                self._wanted[key] = left
            else:
                self._texts.pop(key, None)
        self._keep(batch)
        return texts

    def _keep(self, batch: CommentBatch) -> None:
        if not self._wanted:
            return
        for key, text in parent_texts_of(batch, self._wanted).items():
            self._texts.setdefault(key, text)


def _keys(article_ids: pa.Array, ids: pa.Array) -> pa.Array:
    return joined_keys(as_text_array(article_ids), as_text_array(ids))


def _members(keys: pa.Array, wanted: Mapping[str, object]) -> np.ndarray:
    """keys[i] in wanted, for every row; through Arrow while `wanted` is small beside the batch."""
    if len(wanted) <= 4 * len(keys):
        value_set = pa.array(list(wanted), type=keys.type)
        return pc.fill_null(pc.is_in(keys, value_set=value_set), False).to_numpy(zero_copy_only=False)
    return np.fromiter((k in wanted for k in keys.to_pylist()), dtype=bool, count=len(keys))
