"""Row-wise sparse products: the similarity of each comment to *its own* article, parent or thread.

`A @ B.T` would compare every comment with every article in a batch; we only need one pair per comment, so
these functions look up the matching entries directly (sorted keys and `searchsorted`), which keeps the cost
linear in the number of non-zeros whatever the number of articles in a batch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_ids(matrix: sp.csr_matrix) -> np.ndarray:
    """The row number of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


# Large batches whose comments point at few distinct rows (articles, thread sums) scatter each of those rows
# into a dense buffer once; small batches (a service request) or many distinct targets (parents) use sorted keys.
_BUFFERED_MIN_ENTRIES = 50_000
_BUFFERED_MAX_TARGETS = 4_096


def rowwise_dot(left: sp.csr_matrix, right: sp.csr_matrix, right_rows: np.ndarray) -> np.ndarray:
    """out[i] = left[i] · right[right_rows[i]]; 0 where right_rows[i] < 0.

    Both matrices must have the same number of columns; `right` needs sorted indices (we sort a copy if not).
    """
    n = left.shape[0]
    out = np.zeros(n, dtype=np.float64)
    if n == 0 or left.nnz == 0 or right.nnz == 0:
        return out
    targets = np.asarray(right_rows, dtype=np.int64)
    if left.nnz >= _BUFFERED_MIN_ENTRIES and len(np.unique(targets)) <= _BUFFERED_MAX_TARGETS:
        return _rowwise_dot_buffered(left, right, targets)
    if not right.has_sorted_indices:
        right = right.copy()
        right.sort_indices()
    width = np.int64(left.shape[1])
    right_keys = row_ids(right) * width + right.indices.astype(np.int64)
    left_rows = row_ids(left)
    targets = np.asarray(right_rows, dtype=np.int64)[left_rows]
    valid = targets >= 0
    left_keys = targets[valid] * width + left.indices[valid].astype(np.int64)
    positions = np.searchsorted(right_keys, left_keys)
    np.minimum(positions, len(right_keys) - 1, out=positions)
    hit = right_keys[positions] == left_keys
    products = left.data[valid][hit] * right.data[positions[hit]]
    out += np.bincount(left_rows[valid][hit], weights=products, minlength=n)
    return out


def _rowwise_dot_buffered(left: sp.csr_matrix, right: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
    """rowwise_dot by target: rows of `left` grouped by the row of `right` they meet, which is scattered into a
    dense buffer once per group, so each stored entry of `left` costs one array read instead of a search."""
    out = np.zeros(left.shape[0], dtype=np.float64)
    order = np.argsort(targets, kind="stable")
    order = order[targets[order] >= 0]
    if len(order) == 0:
        return out
    grouped = left[order]
    sorted_targets = targets[order]
    bounds = np.flatnonzero(np.diff(sorted_targets)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(order)]])
    entry_rows = row_ids(grouped)
    buffer = np.zeros(left.shape[1], dtype=np.float64)
    sums = np.zeros(len(order), dtype=np.float64)
    for start, end in zip(starts, ends, strict=True):
        target = sorted_targets[start]
        columns = right.indices[right.indptr[target] : right.indptr[target + 1]]
        buffer[columns] = right.data[right.indptr[target] : right.indptr[target + 1]]
        first, last = grouped.indptr[start], grouped.indptr[end]
        products = grouped.data[first:last] * buffer[grouped.indices[first:last]]
        sums[start:end] = np.bincount(entry_rows[first:last] - start, weights=products, minlength=end - start)
        buffer[columns] = 0.0
    out[order] = sums
    return out


def l2_normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale every non-empty row to unit length, in place; empty rows stay empty."""
    if matrix.nnz:
        l2_normalize_entries(row_ids(matrix), matrix.data, matrix.shape[0])
    return matrix


def l2_normalize_entries(rows: np.ndarray, data: np.ndarray, n: int) -> None:
    """Scale the entries of each of `n` rows (entry i belongs to row rows[i]) to unit length, in place."""
    if len(data):
        norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n))
        norms[norms == 0] = 1.0
        data /= norms[rows]


def binarized(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same sparsity pattern with every stored value set to 1."""
    out = matrix.copy()
    out.data = np.ones_like(out.data)
    return out


def group_sums(matrix: sp.csr_matrix, groups: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Row sums of `matrix` per group: out[g] = sum of matrix[i] for i with groups[i] == g (sorted indices).

    Done with sorted keys and bincount rather than an indicator-matrix product, whose set-up dominates for the
    small batches a service sees.
    """
    width = np.int64(matrix.shape[1])
    keys = np.asarray(groups, dtype=np.int64)[row_ids(matrix)] * width + matrix.indices.astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    data = np.bincount(inverse, weights=matrix.data, minlength=len(unique))
    rows = unique // width
    indptr = np.searchsorted(rows, np.arange(n_groups + 1)).astype(np.int64)
    out = sp.csr_matrix((data, (unique % width).astype(np.int32), indptr), shape=(n_groups, matrix.shape[1]))
    out.has_sorted_indices = True
    return out


def squared_row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """||row||² of every row."""
    if matrix.nnz == 0:
        return np.zeros(matrix.shape[0])
    return np.bincount(row_ids(matrix), weights=matrix.data**2, minlength=matrix.shape[0])
