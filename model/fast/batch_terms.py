"""Normalise and hash the words of a whole batch of comments at once, identical to the per-comment path.

Batch scoring spends most of its time in two per-comment Python loops of the core: `normalize_text` and the
analyzer of scikit-learn's HashingVectorizer (lowercase, `\\b\\w\\w+\\b`, word n-grams, MurmurHash3 per term).
This module does the same work over a whole Arrow array: RE2 kernels (C++) split and clean the texts, and
MurmurHash3 runs in numpy over the distinct terms of the batch. The results are not "close to" the core's: they
are the same numbers (tests compare them bit for bit), so a bundle scores the same in the API and in a dump.

Exactness rests on three facts, each checked by the tests:
- `normalize_batch` takes the vectorised route only for pure-ASCII texts, where Python's `\\s` and the control
  classes of `model.text` mean exactly what RE2 reads; other texts go through `normalize_text` itself.
- Words are split on the complement of Python's own `\\w` class, computed from `re` for every code point (a
  byte table for ASCII, a code point table for the rest); texts are lower-cased with Python's `str.lower`
  (Arrow's Unicode tables differ).
- The hash is the MurmurHash3 (x86, 32-bit, seed 0) of each term's UTF-8 bytes, bucket `abs(h) % n_features`,
  exactly as `sklearn.feature_extraction._hashing_fast` computes it.

Only the HashingVectorizer configuration the bundle uses is supported (word analyzer, our token pattern, no
stop words, no accent stripping, no alternate sign, no norm); `supports(hasher)` says so and callers fall back to
`hasher.transform` otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from model.text import MAX_MODEL_CHARS, normalize_text

#: The token pattern these functions reproduce (the one `model.features` gives its hasher).
TOKEN_PATTERN = r"(?u)\b\w\w+\b"

# Terms longer than this many 4-byte blocks are hashed one by one; the numpy loop runs once per block.
_MAX_VECTOR_BLOCKS = 64

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)

# The classes of model.text in RE2 syntax (code points, not bytes). Surrogates cannot occur in Arrow strings.
_CONTROL = "[\\x00-\\x08\\x0b-\\x1f\\x{7f}-\\x{9f}]"
_INVISIBLE = "[\\x{ad}\\x{200b}-\\x{200f}\\x{2028}-\\x{202e}\\x{2060}-\\x{2064}\\x{feff}]"
_SPACE_NOT_BLANK = "[\\t\\r\\f\\x0b\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}]"
_SPACE = "[ \\t\\r\\f\\x0b\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}]"


def supports(hasher: HashingVectorizer) -> bool:
    """True when `word_counts` reproduces `hasher.transform` exactly."""
    low, high = hasher.ngram_range
    return bool(
        hasher.analyzer == "word"
        and hasher.token_pattern == TOKEN_PATTERN
        and hasher.tokenizer is None
        and hasher.preprocessor is None
        and hasher.stop_words is None
        and hasher.strip_accents is None
        and hasher.lowercase
        and hasher.input == "content"
        and not hasher.alternate_sign
        and not hasher.binary
        and hasher.norm is None
        and low == 1
        and high in (1, 2)
        and np.dtype(hasher.dtype) == np.float64
    )


def as_text_array(values: object) -> pa.Array:
    """A large_string Arrow array from an Arrow array/chunked array or a sequence of str/None."""
    array: pa.Array
    if isinstance(values, pa.ChunkedArray):
        array = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif isinstance(values, pa.Array):
        array = values
    else:
        array = pa.array(values, type=pa.large_string(), from_pandas=True)
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    return array


def normalize_batch(texts: pa.Array) -> pa.Array:
    """`model.text.normalize_text` of every value (missing values become ""), as a large_string array.

    The same steps in the same order, as RE2 passes over the batch, with the character classes of `model.text`
    written out for RE2. Most comments are pure ASCII with single spaces and no control characters; for them
    every pass but the trimming leaves the text as it is, so the passes run only on the other rows (found by
    one RE2 match) and those rows are put back in place.
    """
    texts = pc.fill_null(as_text_array(texts), "")
    # A row any pass could change: a control character (\n and \t included), two spaces in a row, or
    # anything outside ASCII (other spaces and controls, invisible characters, NFKC).
    dirty = pc.match_substring_regex(texts, "[\\x00-\\x1f\\x7f]|  |[^\\x00-\\x7f]")
    dirty_mask = dirty.to_numpy(zero_copy_only=False)
    if dirty_mask.all():
        return _normalize_rows(texts)
    if (pc.max(pc.binary_length(texts)).as_py() or 0) <= MAX_MODEL_CHARS:
        out = pc.utf8_trim(texts, " \n")  # no text is long enough for the cuts to change it
    else:
        out = _trimmed(pc.utf8_slice_codeunits(texts, 0, MAX_MODEL_CHARS * 2))
    if not dirty_mask.any():
        return out
    cleaned = _normalize_rows(texts.take(pa.array(np.flatnonzero(dirty_mask))))
    return pc.replace_with_mask(out, dirty, cleaned)


def _trimmed(texts: pa.Array) -> pa.Array:
    """The last steps of normalize_text: trim, cut to MAX_MODEL_CHARS, trim again."""
    out = pc.utf8_trim(texts, " \n")
    out = pc.utf8_slice_codeunits(out, 0, MAX_MODEL_CHARS)
    return pc.utf8_trim(out, " \n")


def _normalize_rows(texts: pa.Array) -> pa.Array:
    """normalize_batch on every row, each pass over all of them. The one step RE2 cannot do, NFKC, is checked
    per text with `unicodedata.is_normalized` (C, cheap): a text NFKC would change goes through `normalize_text`
    itself."""
    out = pc.utf8_slice_codeunits(texts, 0, MAX_MODEL_CHARS * 2)
    ascii_mask = pc.string_is_ascii(out).to_numpy(zero_copy_only=False)
    out = pc.replace_substring_regex(out, _CONTROL, "")
    others = np.flatnonzero(~ascii_mask)
    # NFKC must leave a text alone for the RE2 route to be exact (checked after removing controls, as
    # normalize_text normalises after removing them).
    unstable = [int(i) for i, text in zip(others, out.take(pa.array(others)).to_pylist(), strict=True)
                if not unicodedata.is_normalized("NFKC", text)]
    if len(others):
        out = pc.replace_substring_regex(out, _INVISIBLE, "")
    # A lone space is already what the substitution would write; matching only longer or other runs saves
    # most of the matches (RE2 replacement costs per match).
    out = pc.replace_substring_regex(out, f" {_SPACE}+|{_SPACE_NOT_BLANK}{_SPACE}*", " ")
    out = pc.replace_substring_regex(out, "[ \\n]*\\n[ \\n]*", "\n")
    out = _trimmed(out)
    if not len(others):
        return out
    # Removing characters can leave a sequence NFKC would compose: normalize_text then runs again.
    redo: dict[int, str] = {
        int(i): normalize_text(text) for i, text in zip(others, out.take(pa.array(others)).to_pylist(), strict=True)
        if not unicodedata.is_normalized("NFKC", text)
    }
    if unstable:
        originals = texts.take(pa.array(unstable)).to_pylist()
        redo.update({i: normalize_text(text) for i, text in zip(unstable, originals, strict=True)})
    if not redo:
        return out
    rows = np.fromiter(redo, dtype=np.int64, count=len(redo))
    mask = np.zeros(len(texts), dtype=bool)
    mask[rows] = True
    fixed = pa.array([redo[int(i)] for i in np.flatnonzero(mask)], type=pa.large_string())
    return pc.replace_with_mask(out, pa.array(mask), fixed)


def lowercase_batch(texts: pa.Array) -> pa.Array:
    """Python's `str.lower` of every text (Arrow's ASCII kernel where that is the same thing)."""
    texts = as_text_array(texts)
    ascii_mask = pc.string_is_ascii(texts)
    out = pc.ascii_lower(texts)
    if pc.all(ascii_mask).as_py():
        return out
    others = np.flatnonzero(~ascii_mask.to_numpy(zero_copy_only=False))
    lowered = [text.lower() for text in texts.take(pa.array(others)).to_pylist()]
    mask = np.zeros(len(texts), dtype=bool)
    mask[others] = True
    return pc.replace_with_mask(out, pa.array(mask), pa.array(lowered, type=pa.large_string()))


def word_counts(texts: pa.Array, hasher: HashingVectorizer) -> sp.csr_matrix:
    """Exactly `hasher.transform(texts)` (a float64 CSR matrix of hashed term counts) for supported hashers."""
    texts = as_text_array(texts)
    n = len(texts)
    n_features = int(hasher.n_features)
    words, ids, rows = _words(_spaced_words(texts))
    if len(ids) == 0:
        return sp.csr_matrix((n, n_features), dtype=np.float64)
    # Hash each distinct word once; a bigram is a pair of word ids, so distinct bigrams are found on integers
    # and only those are joined into strings and hashed.
    columns = [_buckets(words, n_features)[ids]]
    all_rows = [rows]
    if hasher.ngram_range[1] == 2 and len(ids) > 1:
        same = rows[1:] == rows[:-1]
        pair_keys = ids[:-1][same] * len(words) + ids[1:][same]
        codes, distinct = pd.factorize(pair_keys)
        if len(distinct):
            left = words.take(pa.array(distinct // len(words)))
            right = words.take(pa.array(distinct % len(words)))
            pairs = pc.binary_join_element_wise(left, right, pa.scalar(" ", pa.large_string()))
            columns.append(_buckets(pairs, n_features)[codes])
            all_rows.append(rows[:-1][same])
    return _count_matrix(np.concatenate(all_rows), np.concatenate(columns), n, n_features)


def _count_matrix(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> sp.csr_matrix:
    """The CSR matrix counting each (row, column) pair, in canonical form (columns sorted within a row, no
    duplicates), as scipy's COO -> CSR conversion with `sum_duplicates` builds it, from one sort of the pairs."""
    shift = n_columns.bit_length() - 1
    if n_columns == 1 << shift:  # a power of two (the hasher's usual size): shifts and masks, no division
        keys = (rows.astype(np.int64) << shift) | columns
    else:
        keys = rows.astype(np.int64) * n_columns + columns
    keys.sort()
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=len(keys)).astype(np.float64)
    keys = keys[starts]
    if n_columns == 1 << shift:
        key_rows, indices = keys >> shift, keys & (n_columns - 1)
    else:
        key_rows, indices = np.divmod(keys, n_columns)
    index_dtype = np.int32 if len(keys) < 2**31 and n_columns < 2**31 else np.int64
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    np.cumsum(np.bincount(key_rows, minlength=n_rows), out=indptr[1:])
    matrix = sp.csr_matrix((counts, indices.astype(index_dtype), indptr), shape=(n_rows, n_columns))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def murmurhash3_batch(terms: pa.Array) -> np.ndarray:
    """MurmurHash3 x86 32-bit, seed 0, of each term's UTF-8 bytes, as int32 (sklearn's `murmurhash3_32`)."""
    terms = as_text_array(terms)
    n = len(terms)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    offsets, data = _buffers(terms)
    starts = offsets[:-1]
    lengths = (offsets[1:] - starts).astype(np.int64)
    out = np.empty(n, dtype=np.int32)
    long = lengths > _MAX_VECTOR_BLOCKS * 4
    if long.any():
        for index in np.flatnonzero(long):
            out[index] = murmurhash3_32(bytes(data[starts[index] : starts[index] + lengths[index]]), seed=0)
    short = np.flatnonzero(~long)
    if len(short):
        # Zero padding lets every gather read four bytes; padded bytes are never mixed into a hash.
        padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
        out[short] = _murmur_vector(padded, starts[short], lengths[short])
    return out


def _murmur_vector(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    # Longest first, so the terms that still have a block j are always a prefix of the arrays.
    order = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[order], lengths[order]
    blocks = lengths // 4
    h = np.zeros(len(starts), dtype=np.uint32)
    n_blocks = int(blocks[0]) if len(blocks) else 0
    active_counts = np.searchsorted(-blocks, -np.arange(1, n_blocks + 1), side="right")
    for j in range(n_blocks):
        m = int(active_counts[j])
        at = starts[:m] + 4 * j
        k = _word(data, at)
        k = _mix_k(k)
        hj = h[:m] ^ k
        hj = (hj << np.uint32(13)) | (hj >> np.uint32(19))
        h[:m] = hj * np.uint32(5) + np.uint32(0xE6546B64)
    tail = lengths & 3
    has_tail = np.flatnonzero(tail)
    if len(has_tail):
        at = starts[has_tail] + 4 * blocks[has_tail]
        rem = tail[has_tail]
        k = data[at].astype(np.uint32)
        k |= np.where(rem >= 2, data[at + 1].astype(np.uint32) << np.uint32(8), np.uint32(0))
        k |= np.where(rem >= 3, data[at + 2].astype(np.uint32) << np.uint32(16), np.uint32(0))
        h[has_tail] ^= _mix_k(k)
    h ^= lengths.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    out = np.empty_like(h)
    out[order] = h
    return out.view(np.int32)


def _word(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Little-endian uint32 from the four bytes at each position."""
    k = data[at].astype(np.uint32)
    k |= data[at + 1].astype(np.uint32) << np.uint32(8)
    k |= data[at + 2].astype(np.uint32) << np.uint32(16)
    k |= data[at + 3].astype(np.uint32) << np.uint32(24)
    return k


def _mix_k(k: np.ndarray) -> np.ndarray:
    k = k * _C1
    k = (k << np.uint32(15)) | (k >> np.uint32(17))
    return k * _C2


def _buckets(terms: pa.Array, n_features: int) -> np.ndarray:
    """Hash bucket of each term, as the hasher computes it (abs of the signed hash, modulo n_features)."""
    hashes = murmurhash3_batch(terms).astype(np.int64)
    return np.abs(hashes) % n_features


def _spaced_words(texts: pa.Array) -> pa.Array:
    """Each text lower-cased as Python does, with every character that is not `\\w` turned into a space."""
    texts = as_text_array(texts)
    ascii_mask = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    # ASCII rows: one table look-up per byte lower-cases and blanks out non-word characters.
    offsets, data = _buffers(texts)
    spaced_bytes = data[offsets[0] : offsets[-1]].tobytes().translate(_ascii_table().tobytes())  # C, byte by byte
    spaced = pa.LargeStringArray.from_buffers(
        len(texts), pa.py_buffer(offsets - offsets[0]), pa.py_buffer(spaced_bytes)
    )
    if ascii_mask.all():
        return spaced
    others = np.flatnonzero(~ascii_mask)
    lowered = [text.lower() for text in texts.take(pa.array(others)).to_pylist()]
    return pc.replace_with_mask(spaced, pa.array(~ascii_mask), _blank_non_words(lowered))


def _blank_non_words(texts: list[str]) -> pa.Array:
    """Every character that is not `\\w` (Python's `re`) turned into a space: the texts as one array of code
    points, one look-up per code point in a table of the `\\w` class, then cut back into texts."""
    lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).copy()
    points[~_is_word(points)] = ord(" ")
    joined = points.tobytes().decode("utf-32-le")
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return pa.array([joined[a:b] for a, b in zip(starts, ends, strict=True)], type=pa.large_string())


def _words(spaced: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The distinct words (two characters or more) of space-separated texts, and for each word of the texts in
    order its index in those and its row."""
    # Split at runs of ASCII whitespace (only spaces are left), so runs of separators make no empty pieces.
    pieces = pc.ascii_split_whitespace(spaced)
    rows = pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False).astype(np.int64)
    # Every piece is dictionary-encoded, then the one-character pieces are dropped from the few thousand
    # distinct ones instead of from all of them.
    encoded = pc.dictionary_encode(pc.list_flatten(pieces))
    long_enough = pc.greater_equal(pc.utf8_length(encoded.dictionary), 2).to_numpy(zero_copy_only=False)
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    kept = long_enough[ids]
    renumbered = np.cumsum(long_enough) - 1
    words = as_text_array(encoded.dictionary.filter(pa.array(long_enough)))
    return words, renumbered[ids[kept]], rows[kept]


def _buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, n + 1) and data bytes of a large_string array, honouring a slice offset."""
    buffers = texts.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=len(texts) + 1, offset=texts.offset * 8)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


@cache
def _ascii_table() -> np.ndarray:
    """Byte -> byte: ASCII word characters lower-cased, other ASCII characters a space, the rest unchanged."""
    table = np.arange(256, dtype=np.uint8)
    for code in range(128):
        char = chr(code)
        table[code] = ord(char.lower()) if (char.isalnum() or char == "_") else ord(" ")
    return table


def _is_word(points: np.ndarray) -> np.ndarray:
    """For each code point, whether Python's `re` counts it as `\\w`: a table for the Basic Multilingual Plane,
    and `re` itself for the few distinct code points above it (emoji, mostly) that a batch holds."""
    table = _bmp_word_table()
    inside = points < len(table)
    words = np.zeros(len(points), dtype=bool)
    words[inside] = np.take(table, points[inside])
    if not inside.all():
        above = points[~inside]
        distinct = np.unique(above)
        verdicts = np.array([re.fullmatch(r"\w", chr(point)) is not None for point in distinct.tolist()], dtype=bool)
        words[~inside] = verdicts[np.searchsorted(distinct, above)]
    return words


@cache
def _bmp_word_table() -> np.ndarray:
    """Whether Python's `re` counts each code point of the Basic Multilingual Plane as `\\w` (one scan by `re`
    over all of them; surrogates, which cannot occur in UTF-8 text, count as not)."""
    table = np.zeros(0x10000, dtype=bool)
    for low, high in ((0, 0xD7FF), (0xE000, 0xFFFF)):
        block = "".join(map(chr, range(low, high + 1)))
        for match in re.finditer(r"\w+", block):
            table[low + match.start() : low + match.end()] = True
    return table
