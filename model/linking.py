"""Which comment a reply answers: the one rule, and the one check on comment ids, for every caller.

A reply's parent is the first comment that carries its `parent_id` *under the same article*, and never the
reply itself. What becomes of a reply whose parent is not among the comments at hand is the caller's choice,
and each caller makes it explicitly with `ParentLinks.unresolved`:

    training and the frame path (`model.features`)   look for the parent's text, else score it as top level
    batch scoring (`batch.scorer`)                    take the parent's text from wherever it is in the dump
                                                      (`batch.parents`), else score it as top level and count
                                                      it as "parent not found"
    the service (`model.bundle.classify_many`)        look among the comments remembered for the article,
                                                      else refuse the request (ClassifyError naming the field)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from model.errors import ClassifyError

#: Up to this many comments a dict beats building pandas indexes (a service request holds a handful).
_SMALL = 256


@dataclass(frozen=True)
class ParentLinks:
    """For each comment: the row of its parent among the comments given (-1 if none), and whether it names one."""

    rows: np.ndarray
    has_parent: np.ndarray

    @property
    def unresolved(self) -> np.ndarray:
        """Comments that name a parent that is not among the comments given (or name themselves)."""
        return self.has_parent & (self.rows < 0)


def link_parents(
    article_keys: Sequence[object] | np.ndarray, comment_ids: Sequence[object] | np.ndarray | None,
    parent_ids: Sequence[object] | np.ndarray,
) -> ParentLinks:
    """Link every comment to its parent by (article, comment id); ids may be None or "" for "none".

    `comment_ids` None means the comments have no ids, so no parent can be among them.
    """
    n = len(parent_ids)
    has_parent = np.fromiter((isinstance(p, str) and p != "" for p in parent_ids), dtype=bool, count=n)
    rows = np.full(n, -1, dtype=np.int64)
    if comment_ids is None or not has_parent.any():
        return ParentLinks(rows, has_parent)
    wanted = np.flatnonzero(has_parent)
    if n <= _SMALL:
        first: dict[tuple[object, object], int] = {}
        for row, key in enumerate(zip(article_keys, comment_ids, strict=True)):
            first.setdefault(key, row)
        for row in wanted.tolist():
            rows[row] = first.get((article_keys[row], parent_ids[row]), -1)
    else:
        articles = np.asarray(article_keys, dtype=object)
        ids = np.asarray(comment_ids, dtype=object)
        lookup = pd.Series(np.arange(n), index=pd.MultiIndex.from_arrays([articles, ids]))
        lookup = lookup[~lookup.index.duplicated(keep="first")]
        parents = np.asarray(parent_ids, dtype=object)
        found = lookup.reindex(pd.MultiIndex.from_arrays([articles[wanted], parents[wanted]])).to_numpy()
        rows[wanted] = np.where(np.isnan(found), -1, found).astype(np.int64)
    rows[rows == np.arange(n)] = -1  # a comment is never its own parent
    return ParentLinks(rows, has_parent)


KEY_SEPARATOR = "\x1f"  # between article id and comment id in a key (ids are unique per article, not across)


def joined_keys(article_ids: pa.Array, ids: pa.Array) -> pa.Array:
    """article id + U+001F + id for every row (large_string Arrow arrays; null where either is null)."""
    return pc.binary_join_element_wise(article_ids, ids, pa.scalar(KEY_SEPARATOR, pa.large_string()))


def link_parents_arrow(article_ids: pa.Array, comment_ids: pa.Array | None, parent_ids: pa.Array) -> ParentLinks:
    """`link_parents` for the large_string columns of a batch of thousands: the same rule, through Arrow's hash
    kernels on joined keys (a batch job links every chunk; through Python lists and pandas that was about
    1 µs per comment). `index_in` finds the first comment that carries a key, as the rule asks.

    Two differences, both outside what a batch job passes: a comment under a missing (null) article is never
    linked, and keys joined with KEY_SEPARATOR can collide when an id holds that control character ("a\x1f"
    + "b" is "a" + "\x1fb"), exactly as they do in `batch.parents`, which finds the parents outside a chunk with
    the same keys (so the two always agree on which replies are linked inside the chunk)."""
    n = len(parent_ids)
    has_parent = pc.fill_null(pc.not_equal(parent_ids, ""), False).to_numpy(zero_copy_only=False)
    rows = np.full(n, -1, dtype=np.int64)
    if comment_ids is None or not has_parent.any():
        return ParentLinks(rows, has_parent)
    wanted = np.flatnonzero(has_parent)
    asked = joined_keys(article_ids, parent_ids).take(pa.array(wanted))
    found = pc.index_in(asked, value_set=joined_keys(article_ids, comment_ids), skip_nulls=True)
    rows[wanted] = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    rows[rows == np.arange(n)] = -1  # a comment is never its own parent
    return ParentLinks(rows, has_parent)


def check_unique_ids(comment_ids: Sequence[str]) -> None:
    """Comments of one request must have distinct ids: which of two would a reply's parent be?

    Raises ClassifyError naming the second occurrence, as `comments[i].id` (the request's field).
    """
    first: dict[str, int] = {}
    for index, comment_id in enumerate(comment_ids):
        seen = first.setdefault(comment_id, index)
        if seen != index:
            raise ClassifyError(
                f"comments[{index}].id: duplicate comment id {comment_id!r} (first at comments[{seen}])",
                field=f"comments[{index}].id",
            )


def check_no_parent_cycles(comment_ids: Sequence[str], parent_ids: Sequence[str | None]) -> None:
    """Replies within one request must form a tree: a comment cannot be an ancestor of its own parent.

    Follows each comment's parent among the comments given (the first with that id, as `link_parents` does;
    a parent outside them ends the chain, it cannot lead back). Raises ClassifyError naming the `parent_id`
    of the cycle's last comment in request order, the one whose link closes the loop, as
    `comments[i].parent_id`. Linear in the number of comments: every comment is walked once.
    """
    row_of: dict[str, int] = {}
    for row, comment_id in enumerate(comment_ids):
        row_of.setdefault(comment_id, row)
    parent_rows = [-1 if parent is None else row_of.get(parent, -1) for parent in parent_ids]
    # A comment naming itself is no link at all (`link_parents`); callers already refuse it as a reply to itself.
    parent_rows = [-1 if parent == row else parent for row, parent in enumerate(parent_rows)]
    walked = [-1] * len(parent_rows)  # the start of the walk that first reached each comment
    for start in range(len(parent_rows)):
        row = start
        while row >= 0 and walked[row] < 0:
            walked[row] = start
            row = parent_rows[row]
        if row < 0 or walked[row] != start:
            continue  # reached a top-level comment, an outside parent, or a chain already known to end
        cycle = [row]
        while (row := parent_rows[row]) != cycle[0]:
            cycle.append(row)
        last = max(cycle)  # the loop, read from the comment sent last: it, its parent, ... back to it
        turn = cycle.index(last)
        loop = cycle[turn:] + cycle[:turn] + [last]
        path = " -> ".join(repr(comment_ids[r]) for r in loop)
        raise ClassifyError(
            f"comments[{last}].parent_id: replies form a cycle ({path}): a comment cannot answer one of "
            "its own replies",
            field=f"comments[{last}].parent_id",
        )
