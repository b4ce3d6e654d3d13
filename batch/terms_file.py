"""A chunk's normalised texts and hashed term counts, kept on disk between the two passes of a job.

The first pass normalises and hashes every chunk to add up the threads (`batch.threads`); the second needs the
same texts and counts to score it. Hashing is the costliest step of scoring a comment, so the first pass writes
them to a scratch file per chunk and the second reads them back instead of doing the work again. That is about
400 bytes per comment (texts and counts), on disk and never held in memory: a file is removed as
soon as it has been read. The numbers read back are the ones written (counts are whole numbers, stored as
uint16 when they fit), so scores do not depend on whether a chunk's terms came from the file or were hashed
again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp


def save_terms(path: Path, texts: pa.Array, counts: sp.csr_matrix) -> None:
    """Write the normalised texts of every row of a chunk (large_string, no nulls) and the term counts of its
    scorable rows."""
    if texts.null_count:
        raise ValueError("save_terms: normalised texts have no missing values")
    buffers = texts.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    values = counts.data
    if len(values) and values.max() <= np.iinfo(np.uint16).max:
        values = values.astype(np.uint16)
    with path.open("wb") as handle:
        np.savez(handle, text_offsets=offsets - offsets[0], text_data=data[offsets[0] : offsets[-1]],
                 indptr=counts.indptr, indices=counts.indices, counts=values,
                 shape=np.array(counts.shape, dtype=np.int64))


def load_terms(path: Path) -> tuple[pa.Array, sp.csr_matrix]:
    """What `save_terms` wrote (counts as float64, canonical CSR); the file is removed."""
    with np.load(path) as stored:
        offsets, data = stored["text_offsets"], stored["text_data"]
        shape = (int(stored["shape"][0]), int(stored["shape"][1]))
        counts = sp.csr_matrix((stored["counts"].astype(np.float64), stored["indices"], stored["indptr"]),
                               shape=shape)
    path.unlink()
    counts.has_sorted_indices = True
    counts.has_canonical_format = True
    texts = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    return texts, counts
