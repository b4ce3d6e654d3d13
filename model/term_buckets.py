"""The terms of a text and their hash buckets, exactly as the bundle's HashingVectorizer computes them.

`term_analyzer(hasher)` is the hasher's own analyzer (lower-case, token pattern, word n-grams) for the
configurations this project uses, without scikit-learn's per-call wrapping, which costs more than the work
for a short comment; any other configuration gets `hasher.build_analyzer()` itself.

scikit-learn hashes each term's UTF-8 bytes with MurmurHash3 (x86, 32-bit, seed 0) and takes the bucket
`abs(h) % n_features` (for h = -2**31 it defines the same value). Words repeat across comments, so a dict
look-up replaces most hashes; the cache is cleared when it fills, which keeps memory bounded under any input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

_CACHE_MAX = 200_000


class TermBuckets:
    """`bucket(term)` for one number of buckets; safe to share between threads (a race only hashes twice)."""

    def __init__(self, n_features: int) -> None:
        self.n_features = int(n_features)
        self._cache: dict[str, int] = {}

    def bucket(self, term: str) -> int:
        cached = self._cache.get(term)
        if cached is not None:
            return cached
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        bucket = abs(int(murmurhash3_32(term, seed=0))) % self.n_features
        self._cache[term] = bucket
        return bucket

    def buckets(self, terms: list[str]) -> list[int]:
        cache = self._cache
        return [cache[t] if t in cache else self.bucket(t) for t in terms]


def term_analyzer(hasher: HashingVectorizer) -> Callable[[str], list[str]]:
    """A function giving the terms `hasher` would hash for a text: unigrams, then bigrams when configured."""
    plain = (
        hasher.analyzer == "word" and hasher.input == "content" and hasher.lowercase
        and hasher.preprocessor is None and hasher.tokenizer is None and hasher.stop_words is None
        and hasher.strip_accents is None and tuple(hasher.ngram_range) in ((1, 1), (1, 2))
    )
    if not plain:
        return hasher.build_analyzer()  # type: ignore[no-any-return]
    find_tokens = re.compile(hasher.token_pattern).findall
    if tuple(hasher.ngram_range) == (1, 1):
        return lambda text: find_tokens(text.lower())  # type: ignore[no-any-return]

    def unigrams_and_bigrams(text: str) -> list[str]:
        tokens: list[str] = find_tokens(text.lower())
        return tokens + [f"{first} {second}" for first, second in pairwise(tokens)]

    return unigrams_and_bigrams
