"""Surface cues that spam carries whatever its words: links, money, contact prompts, phone numbers, shouting.

The word features learn which words spammers used last year; these cues describe how spam is built, which
changes more slowly. They are counted over a whole batch at once with Arrow's RE2 kernels (C++), because a
Python loop per comment would cost more than the whole rest of the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# name -> (pattern, ignore_case), counted as matches per comment. The patterns stay in the subset where RE2
# (Arrow, for large batches) and Python's `re` with re.ASCII (small batches, no per-call compilation) agree:
# ASCII classes only, no back-references, no \p{...}; texts are normalised first, so \s means the same.
_PATTERNS: dict[str, tuple[str, bool]] = {
    "link": (
        r"https?://|www\.|\b[a-z0-9-]{2,}\s?(?:\.|\(dot\)|\[dot\]| dot )\s?"
        r"(?:com|net|org|info|biz|xyz|io|co|ly|me|site|online|top|club|shop|link|ru|us)\b",
        True,
    ),
    "money": (
        r"[$€£¥]\s?[0-9][0-9,.]*|[0-9][0-9,.]*\s?(?:\$|€|£|usd|dollars|bucks|k\b)|\b[0-9]{1,3}(?:,[0-9]{3})+\b",
        True,
    ),
    "earning_rate": (
        r"\b(?:per|a|an|each|every|/)\s?(?:hour|hr|day|week|wk|month|mo|year|yr)\b",
        True,
    ),
    "contact_prompt": (
        r"whats\s?app|telegram|signal me|\bdm\b|\bpm me|inbox me|message me|text me|call me|email me|"
        r"contact (?:me|him|her|us)|reach (?:me|him|her|us)|check (?:out )?my (?:profile|page|channel|bio)|"
        r"link in (?:my )?(?:bio|profile)|@(?:gmail|yahoo|hotmail|outlook|proton)|click (?:here|the link|my)",
        True,
    ),
    # Seven or more digits, possibly spaced or with letters standing in for digits (O for 0, S for 5, l for 1).
    "phone_like": (r"(?:\+\s?)?(?:[0-9OoSlI][ ().\-]{0,3}){6,}[0-9]", False),
    "spelled_digits": (
        r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|oh)\b(?:[ ,.\-]+"
        r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|oh)\b){3,}",
        True,
    ),
    "exclamation": (r"!", False),
    # RE2 has no back-references, so "the same character four times" is spelled out per character.
    "repeated_char": ("|".join(f"{re.escape(c)}{{4,}}" for c in "abcdefghijklmnopqrstuvwxyz!?.$"), True),
    "digit_in_word": (r"\b[a-z]+[0-9]+[a-z]+\b", True),
    "spaced_letters": (r"\b(?:[a-z] ){3,}[a-z]\b", True),
    "emoji": ("[\U0001F300-\U0001FAFF\u2600-\u27BF\U0001F000-\U0001F2FF]", False),
}
_UPPER = "[A-Z]"
_LETTER = "[A-Za-z]"

#: Cue column names, in the order `spam_cues` returns them.
CUE_NAMES: tuple[str, ...] = (*_PATTERNS, "uppercase_ratio", "log_chars")

#: Below this many texts, compiled Python regexes beat Arrow, which compiles its patterns on every call.
SMALL_BATCH = 256


def spam_cues(texts: Sequence[str]) -> np.ndarray:
    """One row per text, one column per name in CUE_NAMES; counts are log1p-scaled so one link matters most."""
    n = len(texts)
    if n == 0:
        return np.zeros((0, len(CUE_NAMES)), dtype=np.float64)
    if n < SMALL_BATCH:
        counts, uppers, letters, lengths = _count_python(texts)
    else:
        counts, uppers, letters, lengths = _count_arrow(texts)
    out = np.empty((n, len(CUE_NAMES)), dtype=np.float64)
    out[:, : len(_PATTERNS)] = np.log1p(counts)
    # Short texts ("OK") are not shouting: the ratio only counts once a comment has a few letters.
    out[:, -2] = np.where(letters >= 8, uppers / np.maximum(letters, 1.0), 0.0)
    out[:, -1] = np.log1p(lengths)
    return out


@cache
def _compiled() -> tuple[list[re.Pattern[str]], re.Pattern[str], re.Pattern[str]]:
    patterns = [re.compile(p, re.ASCII | (re.IGNORECASE if i else 0)) for p, i in _PATTERNS.values()]
    return patterns, re.compile(_UPPER), re.compile(_LETTER)


def _count_python(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    patterns, upper, letter = _compiled()
    counts = np.array([[len(p.findall(t)) for p in patterns] for t in texts], dtype=np.float64)
    uppers = np.array([len(upper.findall(t)) for t in texts], dtype=np.float64)
    letters = np.array([len(letter.findall(t)) for t in texts], dtype=np.float64)
    lengths = np.array([len(t) for t in texts], dtype=np.float64)
    return counts, uppers, letters, lengths


def _count_arrow(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    array = pa.array(texts, type=pa.large_string())

    def count(pattern: str, ignore_case: bool = False) -> np.ndarray:
        result = pc.count_substring_regex(array, pattern, ignore_case=ignore_case)
        return result.to_numpy(zero_copy_only=False).astype(np.float64)

    counts = np.column_stack([count(p, i) for p, i in _PATTERNS.values()])
    lengths = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64)
    uppers, letters = _ascii_letter_counts(array)
    return counts, uppers, letters, lengths


def _ascii_letter_counts(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of [A-Z] and [A-Za-z] per string, read off the UTF-8 bytes (a byte below 0x80 is always a
    whole character in UTF-8, so this equals the regex counts) instead of one regex match per letter."""
    _, offsets_buffer, buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, dtype=np.uint8)
    data = data[offsets[0] : offsets[-1]]
    relative = offsets - offsets[0]
    upper = np.zeros(256, dtype=np.int64)
    upper[ord("A") : ord("Z") + 1] = 1
    letter = upper.copy()
    letter[ord("a") : ord("z") + 1] = 1
    cumulative_upper = np.concatenate([[0], np.cumsum(upper[data])])
    cumulative_letter = np.concatenate([[0], np.cumsum(letter[data])])
    return (
        np.diff(cumulative_upper[relative]).astype(np.float64),
        np.diff(cumulative_letter[relative]).astype(np.float64),
    )
