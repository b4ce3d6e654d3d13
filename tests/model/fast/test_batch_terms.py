"""Batch normalisation and hashing give exactly the numbers of the per-comment path, for any text."""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from model.bundle import ModelBundle
from model.fast.batch_terms import (
    TOKEN_PATTERN,
    murmurhash3_batch,
    normalize_batch,
    supports,
    word_counts,
)
from model.text import MAX_MODEL_CHARS, normalize_text, normalize_texts
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS

TRICKY = [
    "", "   ", "a", "Hello, World!", "  two  spaces\tand\ttabs\r\nand lines \n\n\n end  ",
    "ctrl\x00\x07chars\x0b\x0cmixed\x7f", "Café déjà vu — “quotes” and ’apostrophes’",
    "𝗰𝗮𝘀𝗵 ｆｕｌｌｗｉｄｔｈ １２３", "zero\u200bwidth\u2060joined", "İstanbul ǅemal ß ﬁ", "emoji 🎉🎉 party!!!",
    "नमस्ते दुनिया", "日本語のテキスト", "Ελληνικά κείμενα", "x_y snake_case __init__ a_b", "e\u0301 combining",
    "\r\r\rcarriage\rreturns", "trailing newline\n", "1,000,000 $5 @home #tag", "a" * 300 + " " + "b" * 70,
]
TEXTS_WITH_CONTROL = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(list(" \t\n\r\x0b\x0c\x00\x1f\x7f\u00a0"))),
    max_size=80,
)


def hasher(ngram_range: tuple[int, int] = (1, 2)) -> HashingVectorizer:
    return HashingVectorizer(n_features=2**18, ngram_range=ngram_range, token_pattern=TOKEN_PATTERN,
                             alternate_sign=False, norm=None)


def assert_same_counts(texts: list[str], vectorizer: HashingVectorizer) -> None:
    expected = vectorizer.transform(texts)
    got = word_counts(pa.array(texts, type=pa.large_string()), vectorizer)
    assert got.shape == expected.shape
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data, expected.data)
    assert (got.indices.dtype, got.indptr.dtype) == (expected.indices.dtype, expected.indptr.dtype)
    got.sum_duplicates()  # a no-op on a canonical matrix: checks the flags the builder sets
    assert np.array_equal(got.indices, expected.indices)


def test_normalize_batch_matches_normalize_text_on_tricky_texts() -> None:
    assert normalize_batch(pa.array(TRICKY)).to_pylist() == normalize_texts(TRICKY)


def test_normalize_batch_mixes_rows_that_only_need_trimming_with_the_others() -> None:
    """Clean rows (ASCII, single spaces, no control characters) skip the cleaning passes; the rest go through
    them; both come back in place, in batches of clean rows only and of both kinds."""
    clean = [" x ", "plain text", "", "x " * 10_000, "a" * (MAX_MODEL_CHARS - 1) + " b", "b" * (MAX_MODEL_CHARS + 9)]
    dirty = ["two  spaces", "tab\there", "line\nbreak", "ctrl\x01", "café", "x  " * 8_000]
    for texts in (clean, dirty, clean + dirty, [t for pair in zip(dirty, clean, strict=True) for t in pair]):
        assert normalize_batch(pa.array(texts)).to_pylist() == normalize_texts(texts)


def test_normalize_batch_turns_missing_values_into_empty_text() -> None:
    assert normalize_batch(pa.array(["ok", None, "  x "])).to_pylist() == ["ok", "", "x"]


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS_WITH_CONTROL, min_size=1, max_size=8))
def test_normalize_batch_matches_normalize_text_on_any_text(texts: list[str]) -> None:
    assert normalize_batch(pa.array(texts, type=pa.large_string())).to_pylist() == [normalize_text(t) for t in texts]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2)])
def test_word_counts_match_the_hasher_on_tricky_texts(ngram_range: tuple[int, int]) -> None:
    texts = [normalize_text(t) for t in TRICKY] + TRICKY
    assert_same_counts(texts, hasher(ngram_range))


def test_word_counts_match_a_hasher_whose_size_is_not_a_power_of_two() -> None:
    odd = HashingVectorizer(n_features=1_000, ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, alternate_sign=False,
                            norm=None)
    assert_same_counts([normalize_text(t) for t in TRICKY] + TRICKY, odd)


def test_word_counts_match_the_hasher_on_the_tiny_corpus() -> None:
    texts = [text for _, _, _, text, _ in TINY_COMMENTS] + [a["body"] for a in TINY_ARTICLES]
    assert_same_counts(texts, hasher())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=60), min_size=1, max_size=6))
def test_word_counts_match_the_hasher_on_any_text(texts: list[str]) -> None:
    assert_same_counts(texts, hasher())


def test_words_split_exactly_where_python_re_splits_them() -> None:
    # Every code point, between two ASCII letters: one word or two, as Python's \w decides.
    codes = [c for c in range(0x80, sys.maxunicode + 1, 7) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"ab{chr(c)}cd" for c in codes]
    assert_same_counts(texts, hasher((1, 1)))


def test_murmurhash_matches_sklearn_for_every_length() -> None:
    terms = ["", "a", "ab", "abc", "abcd", "abcde", "é", "日本", "x" * 255, "y" * 256, "z" * 400, "🎉 party"]
    terms += [f"w{i}" * (i % 9) for i in range(300)]
    expected = np.array([murmurhash3_32(t, seed=0) for t in terms], dtype=np.int32)
    assert np.array_equal(murmurhash3_batch(pa.array(terms)), expected)
    sliced = pa.array(["skip", *terms]).slice(1)
    assert np.array_equal(murmurhash3_batch(sliced), expected)


def test_only_the_bundle_configuration_is_claimed() -> None:
    assert supports(hasher())
    assert not supports(HashingVectorizer(n_features=2**10, analyzer="char_wb", ngram_range=(3, 5),
                                          alternate_sign=False, norm=None))
    assert not supports(HashingVectorizer(n_features=2**10, token_pattern=TOKEN_PATTERN, stop_words="english",
                                          alternate_sign=False, norm=None))
    assert not supports(HashingVectorizer(n_features=2**10, token_pattern=TOKEN_PATTERN, alternate_sign=True,
                                          norm=None))


def test_the_tiny_bundle_uses_the_fast_path(tiny_bundle: ModelBundle) -> None:
    features = tiny_bundle.pipeline.named_steps["features"]
    assert supports(features.hasher_)



def test_normalize_batch_matches_where_removing_a_character_makes_nfkc_compose() -> None:
    texts = [
        "e\u200b\u0301 and e\x00\u0301",  # removal joins a letter with its accent: NFKC must run again
        "dots… and ﬁne ligatures",  # NFKC changes these before anything else
        "nbsp\u00a0\u00a0and\u3000ideographic\u2028line\u2029para\x85next",
        "é" * 30_000 + "x" * 20_000,  # longer than the model reads, non-ASCII before the cut
        "x" * 40_000 + "é",  # non-ASCII only after the first cut
        "\r\nwindows\r\nlines\r\n",
    ]
    assert normalize_batch(pa.array(texts)).to_pylist() == normalize_texts(texts)
