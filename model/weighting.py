"""How terms are weighted: (1 + log tf) · idf, then each comment scaled to unit length. Written once.

Every path that turns counts into the vectors the model reads calls this: training and the frame path
(`model.features`), large batches of a dump (`batch.scorer`) and service requests (`model.fast.small_batch`).
Sublinear term frequency keeps a word said ten times from counting ten times; unit length makes the cosine
similarities to the article, parent and thread plain dot products.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from model.sparse_ops import l2_normalize_entries, l2_normalize_rows


def term_weights(counts: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """(1 + log tf) · idf for each stored count, where `idf` holds the weight of each count's term."""
    return (1.0 + np.log(counts.astype(np.float64, copy=False))) * idf


def weigh_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """The weighted, unit-length rows of a count matrix (in place: `counts` is consumed)."""
    counts.data = term_weights(counts.data, idf[counts.indices])
    return l2_normalize_rows(counts)


def weigh_entries(rows: np.ndarray, indices: np.ndarray, counts: np.ndarray, idf: np.ndarray, n: int) -> np.ndarray:
    """The same weights for counts stored as (row, term index, count) triples sorted by row, as the small-batch
    path keeps them; returns the weighted data."""
    data = term_weights(counts, idf[indices])
    l2_normalize_entries(rows, data, n)
    return data
