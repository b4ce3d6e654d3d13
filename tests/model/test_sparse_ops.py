"""Row-wise products against their plain definition, on both paths (sorted keys for small batches, dense
buffers for large ones), and the two paths against each other to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model import sparse_ops
from model.sparse_ops import rowwise_dot, rowwise_dots


def random_rows(rng: np.random.Generator, n: int, width: int, per_row: int) -> sp.csr_matrix:
    matrix = sp.random(n, width, density=per_row / width, format="csr", random_state=rng)
    matrix.data = rng.random(matrix.nnz) + 0.1
    return matrix


def plain(left: sp.csr_matrix, right: sp.csr_matrix, rows: np.ndarray, *, pattern: bool = False) -> np.ndarray:
    if pattern:
        left, right = (m.copy() for m in (left, right))
        left.data[:], right.data[:] = 1.0, 1.0
    out = np.zeros(left.shape[0])
    valid = np.flatnonzero(rows >= 0)
    out[valid] = np.asarray(left[valid].multiply(right[rows[valid]]).sum(axis=1)).ravel()
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_paths_give_the_plain_products_and_agree_to_the_last_bit(seed: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    width = 2_000
    left = random_rows(rng, 3_000, width, 30)  # 90,000 entries: the buffered path
    rights = [random_rows(rng, 12, width, per_row) for per_row in (5, 300, 900)]
    rights.append(sp.csr_matrix((12, width)))  # an empty right gives zeros
    rows = rng.integers(-1, 12, size=left.shape[0])  # -1: no partner
    rows[:50] = 3  # a target that many rows meet, and one (11) that may meet none
    buffered = rowwise_dots(left, rights, rows, shared=(2,))
    with monkeypatch.context() as public:  # the kernel through scipy's public operator, if the private one moves
        public.setattr(sparse_ops, "_csr_matvecs", None)
        assert all(np.array_equal(a, b) for a, b in zip(rowwise_dots(left, rights, rows, shared=(2,)), buffered,
                                                          strict=True))
    monkeypatch.setattr(sparse_ops, "_BUFFERED_MIN_ENTRIES", 10**9)
    keyed = rowwise_dots(left, rights, rows, shared=(2,))
    for j, right in enumerate(rights):
        expected = plain(left, right, rows, pattern=j == 2)
        assert np.allclose(buffered[j], expected, rtol=1e-12, atol=0)
        assert np.array_equal(buffered[j], keyed[j])
        assert np.array_equal(rowwise_dot(left, right, rows), keyed[j]) or j == 2
    # The same matrix twice (a parent's product and its shared terms) is searched once and gives both.
    product, shared = rowwise_dots(left, (rights[1], rights[1]), rows, shared=(1,))
    assert np.array_equal(product, keyed[1])
    assert np.array_equal(shared, plain(left, rights[1], rows, pattern=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_parents_paired_row_by_row_give_the_searched_products(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies meet parents of about their own size, many distinct ones: the rows are paired and multiplied."""
    rng = np.random.default_rng(seed)
    width = 2_000
    left = random_rows(rng, 800, width, 20)
    parents = random_rows(rng, 300, width, 20)
    rows = np.where(rng.random(800) < 0.4, rng.integers(0, 300, size=800), -1)
    paired = rowwise_dots(left, (parents, parents), rows, shared=(1,))
    # Products that underflow to zero (and are not stored) still count as shared terms.
    tiny = left * 1e-200, parents * 1e-200
    assert np.array_equal(rowwise_dots(tiny[0], (tiny[1], tiny[1]), rows, shared=(1,))[1], paired[1])
    monkeypatch.setattr(sparse_ops, "_dots_paired", lambda *args: False)
    searched = rowwise_dots(left, (parents, parents), rows, shared=(1,))
    assert np.array_equal(paired[0], searched[0]) and np.array_equal(paired[1], searched[1])
    assert np.allclose(paired[0], plain(left, parents, rows), rtol=1e-12, atol=0)
    assert np.array_equal(paired[1], plain(left, parents, rows, pattern=True))
