"""The hash bucket of a term, exactly as the bundle's HashingVectorizer computes it, with a bounded cache.

scikit-learn hashes each term's UTF-8 bytes with MurmurHash3 (x86, 32-bit, seed 0) and takes the bucket
`abs(h) % n_features` (for h = -2**31 it defines the same value). Words repeat across comments, so a dict
look-up replaces most hashes; the cache is cleared when it fills, which keeps memory bounded under any input.
"""

from __future__ import annotations

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
