"""A chunk's normalised texts and hashed term counts, kept on disk between the two passes of a job.

The first pass normalises and hashes every chunk to add up the threads (`batch.threads`); the second needs the
same texts and counts to score it. Hashing is the costliest step of scoring a comment, so the first pass writes
them to a scratch file per chunk and the second reads them back instead of doing the work again. That is about
350 bytes per comment (texts and counts), on disk and never held in memory: a file is removed as soon as it
has been read. The numbers read back are the ones written (counts are whole numbers, stored as uint16 when they
fit), so scores do not depend on whether a chunk's terms came from the file or were hashed again.

The file is the arrays' bytes one after the other behind a small header of their lengths and types: a file
that only this job writes and reads needs no archive format (`np.savez` spent 0.7 s of CPU per million rows
on its zip container and checksums).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

_MAGIC = b"moderate-terms-1\n".ljust(24, b"\0")  # 24 bytes: the header and every array start 8-aligned
#: The arrays of a file, in order: name and the types it may have.
_FIELDS = (("text_offsets", ("int64",)), ("text_data", ("uint8",)), ("indptr", ("int32", "int64")),
           ("indices", ("int32", "int64")), ("counts", ("uint16", "float64")))
_HEADER = np.dtype([("rows", "<i8"), ("columns", "<i8"), ("lengths", "<i8", len(_FIELDS)),
                    ("types", "<i8", len(_FIELDS))])


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
    arrays = [offsets - offsets[0], data[offsets[0] : offsets[-1]], counts.indptr, counts.indices, values]
    header = np.zeros(1, dtype=_HEADER)
    header["rows"], header["columns"] = counts.shape
    header["lengths"] = [len(a) for a in arrays]
    header["types"] = [allowed.index(a.dtype.name) for a, (_, allowed) in zip(arrays, _FIELDS, strict=True)]
    with path.open("wb") as handle:
        handle.write(_MAGIC)
        handle.write(header.tobytes())
        for array in arrays:
            handle.write(np.ascontiguousarray(array).data)
            handle.write(bytes(-array.nbytes % 8))


def load_terms(path: Path) -> tuple[pa.Array, sp.csr_matrix]:
    """What `save_terms` wrote (counts as float64, canonical CSR); the file is removed."""
    raw = path.read_bytes()
    path.unlink()
    start = len(_MAGIC) + _HEADER.itemsize
    if len(raw) < start or not raw.startswith(_MAGIC):
        raise ValueError(f"{path}: not a terms file of this version")
    header = np.frombuffer(raw, dtype=_HEADER, count=1, offset=len(_MAGIC))[0]
    arrays = []
    for (name, allowed), length, kind in zip(_FIELDS, header["lengths"], header["types"], strict=True):
        if not 0 <= int(kind) < len(allowed) or length < 0:
            raise ValueError(f"{path}: unknown type or length of {name}")
        dtype = np.dtype(allowed[int(kind)])
        end = start + int(length) * dtype.itemsize
        if end > len(raw):
            raise ValueError(f"{path}: cut short in {name}")
        arrays.append(np.frombuffer(raw, dtype=dtype, count=int(length), offset=start))
        start = end + (-end % 8)
    offsets, data, indptr, indices, values = arrays
    counts = sp.csr_matrix((values.astype(np.float64), indices, indptr),
                           shape=(int(header["rows"]), int(header["columns"])))
    counts.has_sorted_indices = True
    counts.has_canonical_format = True
    texts = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    return texts, counts
