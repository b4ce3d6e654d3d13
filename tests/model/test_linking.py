"""The parent rule has three implementations by batch size (a dict, pandas, Arrow's hash kernels): they agree.

Ids are drawn from a tiny alphabet so that repeats, replies to themselves, missing and empty ids, parents under
another article and ids holding the keys' separator all occur. The alphabet avoids the one case where the Arrow
path differs on purpose: joined keys that collide, as "a\x1f" + "b" and "a" + "\x1fb" do (batch.parents builds
the same keys, so the scorer and the job agree even then); that case is pinned below, as is a missing article.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from model.linking import link_parents, link_parents_arrow

ids = st.one_of(st.none(), st.sampled_from(["", "c1", "c2", "c3", "c1\x1fx", "x"]))
rows = st.lists(st.tuples(st.sampled_from(["a", "b", "a\x1fc"]), ids, ids), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows, st.booleans())
def test_arrow_links_are_the_dict_and_pandas_links(table: list[tuple[str, str | None, str | None]],
                                                   with_ids: bool) -> None:
    articles = [a for a, _, _ in table]
    comment_ids = [c for _, c, _ in table] if with_ids else None
    parent_ids = [p for _, _, p in table]
    expected = link_parents(articles, comment_ids, parent_ids)
    arrow = link_parents_arrow(
        pa.array(articles, pa.large_string()),
        pa.array(comment_ids, pa.large_string()) if comment_ids is not None else None,
        pa.array(parent_ids, pa.large_string()),
    )
    assert np.array_equal(arrow.has_parent, expected.has_parent)
    assert np.array_equal(arrow.rows, expected.rows)
    # The pandas path (more than 256 comments) on the same rows, repeated under fresh article names.
    big = 300 // len(table) + 1
    many = [f"{a}#{k}" for k in range(big) for a in articles]
    pandas = link_parents(many, (comment_ids or [None] * len(table)) * big if with_ids else None, parent_ids * big)
    assert np.array_equal(pandas.rows[: len(table)], expected.rows)


def test_arrow_links_never_join_a_missing_article_and_collide_where_the_keys_do() -> None:
    def arrow(articles: list[str | None], ids: list[str | None], parents: list[str | None]) -> list[int]:
        return link_parents_arrow(*(pa.array(v, pa.large_string()) for v in (articles, ids, parents))).rows.tolist()

    assert arrow(["a", None], [None, "z"], [None, "c1"]) == [-1, -1]  # null keys never match each other
    assert arrow(["a\x1fc", "a"], ["x", "y"], [None, "c\x1fx"]) == [-1, 0]  # the keys' collision, as batch.parents
