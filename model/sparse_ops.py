"""Row-wise sparse products: the similarity of each comment to *its own* article, parent or thread.

`A @ B.T` would compare every comment with every article in a batch; we only need one pair per comment, so
these functions look up the matching entries directly (sorted keys and `searchsorted`), which keeps the cost
linear in the number of non-zeros whatever the number of articles in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

try:  # scipy's own kernel for Y += A·X (CSR A, dense X and Y), called on slices without building a matrix
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # private, so a SciPy may move it: the same kernel through the public operator, slower
    _csr_matvecs = None


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
    return rowwise_dots(left, (right,), right_rows)[0]


def rowwise_dots(
    left: sp.csr_matrix, rights: Sequence[sp.csr_matrix], right_rows: np.ndarray, *, shared: Sequence[int] = ()
) -> list[np.ndarray]:
    """[rowwise_dot(left, right, right_rows) for right in rights], finding each entry's partner row once.

    For the rights whose position is in `shared`, out[i] counts the stored entries of left[i] that the right
    row also stores (the product of the two patterns) instead. A comment is compared with its article's title,
    body and thread, or with its parent for a product and for the shared words: the sorting, grouping and
    searching are the same for all of them, so they are done once. The three ways below (sorted-key search,
    rows paired with their partners, dense buffers per target) give the same result to the last bit: the
    products of a row are added in the same order (tests/model/test_sparse_ops.py).
    """
    n = left.shape[0]
    out = [np.zeros(n, dtype=np.float64) for _ in rights]
    live = [j for j, right in enumerate(rights) if right.nnz]
    if n == 0 or left.nnz == 0 or not live:
        return out
    targets = np.asarray(right_rows, dtype=np.int64)
    weighted = [j not in shared for j in range(len(rights))]
    if left.nnz >= _BUFFERED_MIN_ENTRIES and len(np.unique(targets)) <= _BUFFERED_MAX_TARGETS:
        _dots_buffered(left, [rights[j] for j in live], targets, [weighted[j] for j in live], [out[j] for j in live])
        return out
    if _dots_paired(left, rights, live, targets, weighted, out):
        return out
    width = np.int64(left.shape[1])
    left_rows = row_ids(left)
    entry_targets = targets[left_rows]
    valid = entry_targets >= 0
    left_keys = entry_targets[valid] * width + left.indices[valid].astype(np.int64)
    rows_valid, data_valid = left_rows[valid], left.data[valid]
    found: dict[int, tuple[np.ndarray, np.ndarray, sp.csr_matrix]] = {}  # one search per distinct matrix
    for j in live:
        right = rights[j]
        if id(right) not in found:
            if not right.has_sorted_indices:
                right = right.copy()
                right.sort_indices()
            right_keys = row_ids(right) * width + right.indices.astype(np.int64)
            positions = np.searchsorted(right_keys, left_keys)
            np.minimum(positions, len(right_keys) - 1, out=positions)
            hit = right_keys[positions] == left_keys
            found[id(rights[j])] = (positions[hit], hit, right)
        positions, hit, right = found[id(rights[j])]
        if weighted[j]:
            out[j] += np.bincount(rows_valid[hit], weights=data_valid[hit] * right.data[positions], minlength=n)
        else:
            out[j] += np.bincount(rows_valid[hit], minlength=n)
    return out


def _dots_paired(
    left: sp.csr_matrix, rights: Sequence[sp.csr_matrix], live: list[int], targets: np.ndarray,
    weighted: list[bool], out: list[np.ndarray],
) -> bool:
    """rowwise_dots when each comment meets a row about its own size (a parent, not an article): each row of
    `left` and its partner row side by side, multiplied element-wise by scipy's merge of sorted rows (linear,
    where the sorted-key search is a binary search per entry; 4x faster on a chunk's replies). The products of
    a row are added in column order, as the search adds them. Returns False, doing nothing, where it does not
    apply: `left` not canonical, or partners holding many more entries than the rows that meet them."""
    if not left.has_canonical_format:
        return False
    valid = np.flatnonzero(targets >= 0)
    if len(valid) == 0:
        return True
    left_entries = int(np.diff(left.indptr)[valid].sum())
    if any(int(np.diff(rights[j].indptr)[targets[valid]].sum()) > 2 * max(left_entries, 1) for j in live):
        return False
    pairs_left = left[valid]
    smallest_left = float(np.abs(pairs_left.data).min()) if pairs_left.nnz else 0.0
    # per distinct matrix: its partner rows, their products, and whether no product underflowed to 0 (and
    # was dropped, so that the products' entries are the shared terms)
    products: dict[int, tuple[sp.csr_matrix, sp.csr_matrix, bool]] = {}
    for j in live:
        if id(rights[j]) not in products:
            partner = rights[j][targets[valid]]
            partner.sum_duplicates()  # canonical: sorted, so the merge keeps the column order
            smallest = smallest_left * (float(np.abs(partner.data).min()) if partner.nnz else 0.0)
            products[id(rights[j])] = (partner, pairs_left.multiply(partner).tocsr(), smallest > 0.0)
        partner, product, complete = products[id(rights[j])]
        if weighted[j]:
            out[j][valid] = np.bincount(row_ids(product), weights=product.data, minlength=len(valid))
        else:
            pattern = product if complete else binarized(pairs_left).multiply(binarized(partner)).tocsr()
            out[j][valid] = np.diff(pattern.indptr)
    return True


def _dots_buffered(
    left: sp.csr_matrix, rights: list[sp.csr_matrix], targets: np.ndarray, weighted: list[bool],
    out: list[np.ndarray],
) -> None:
    """rowwise_dots by target: rows of `left` grouped by the row of the rights they meet; those rows are
    scattered into dense buffers (a column per right) once per group, and the group's rows are multiplied with
    them in one sparse-times-dense product (scipy's own kernel, called on the group's slice of the arrays, as
    slicing a CSR matrix would copy it). Each row's products are added in entry order, as `rowwise_dot` adds
    them, so the result is the same to the last bit."""
    order = np.argsort(targets, kind="stable")
    order = order[targets[order] >= 0]
    if len(order) == 0:
        return
    grouped = left[order]
    sorted_targets = targets[order]
    bounds = np.flatnonzero(np.diff(sorted_targets)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = np.concatenate([bounds, [len(order)]]).tolist()
    width = left.shape[1]
    index_type = grouped.indices.dtype
    indptr, indices, data = grouped.indptr.astype(index_type, copy=False), grouped.indices, grouped.data
    parts = []  # (the rights it holds, their buffer, the left values it multiplies, its results)
    for kind in (True, False):
        chosen = [j for j in range(len(rights)) if weighted[j] == kind]
        if chosen:
            values = data if kind else np.ones_like(data)  # a pattern counts the shared terms
            parts.append((chosen, np.zeros((width, len(chosen))), values, np.zeros((len(order), len(chosen)))))
    for start, end in zip(starts, ends, strict=True):
        target = sorted_targets[start]
        first, last = indptr[start], indptr[end]
        row_starts = indptr[start : end + 1] - first
        for chosen, buffer, values, results in parts:
            columns = [rights[j].indices[rights[j].indptr[target] : rights[j].indptr[target + 1]] for j in chosen]
            for column, j in enumerate(chosen):
                right = rights[j]
                buffer[columns[column], column] = (
                    right.data[right.indptr[target] : right.indptr[target + 1]] if weighted[j] else 1.0)
            if _csr_matvecs is not None:  # both raveled arrays are C-contiguous: views, written in place
                _csr_matvecs(end - start, width, len(chosen), row_starts, indices[first:last],
                             values[first:last], buffer.ravel(), results[start:end].ravel())
            else:
                block = sp.csr_matrix((values[first:last], indices[first:last], row_starts), shape=(end - start, width))
                results[start:end] = block @ buffer
            for column, used in enumerate(columns):
                buffer[used, column] = 0.0
    for chosen, _, _, results in parts:
        for column, j in enumerate(chosen):
            out[j][order] = results[:, column]


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
