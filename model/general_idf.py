"""A general-language IDF for the hashed word buckets, from word frequencies in large public text (wordfreq).

Our corpus is small and written by few hands, so IDF learned from it alone says more about its style than about
words: a word real readers use all the time ("thanks", "lol") that our writers rarely used gets a rare word's
weight and dominates a real comment's vector and its similarities. Blending in how common each word is in
general English (films subtitles, news, web text, social media: wordfreq's "best" list) moves those weights
toward what any reader would call common. Only unigrams are covered; other buckets keep the corpus's IDF.

Used at fit time only: the blended IDF is stored in the bundle, so serving neither imports wordfreq nor pays for it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

#: A comment is about this many words long: a word of frequency f appears in a share of about 40·f of comments.
_WORDS_PER_COMMENT = 40.0


@lru_cache(maxsize=4)  # 1.6 s to hash the word list: once per process and bucket layout, not once per fit
def general_idf(n_features: int, token_pattern: str, language: str = "en") -> tuple[np.ndarray, np.ndarray]:
    """(covered, idf): which buckets hold a known word, and the IDF a document frequency of 40·f would give,
    on the corpus IDF's scale (log(1/share) + 1); where several words share a bucket the most common wins.
    The arrays are shared between callers, hence read-only."""
    from wordfreq import get_frequency_dict

    hasher = HashingVectorizer(n_features=n_features, token_pattern=token_pattern, alternate_sign=False, norm=None)

    frequencies = get_frequency_dict(language, wordlist="best")
    words = list(frequencies)
    share = np.minimum(1.0, _WORDS_PER_COMMENT * np.fromiter((frequencies[w] for w in words), dtype=np.float64,
                                                             count=len(words)))
    counts = hasher.transform(words).tocsr()
    rows = np.repeat(np.arange(len(words)), np.diff(counts.indptr))
    idf = np.full(n_features, np.inf)
    np.minimum.at(idf, counts.indices, np.log(1.0 / share[rows]) + 1.0)
    covered = np.isfinite(idf)
    idf[~covered] = 0.0
    covered.flags.writeable = False
    idf.flags.writeable = False
    return covered, idf
