"""Surface cues that spam carries whatever its words: links, money, contact prompts, phone numbers, shouting.

The word features learn which words spammers used last year; these cues describe how spam is built, which
changes more slowly. Two paths count them, each skipping the work that cannot change a count:

- large batches (`SMALL_BATCH` texts or more): Arrow's RE2 kernels (C++) over the whole batch. Letters, capitals,
  "!" and digits are counted in one numpy pass over the UTF-8 bytes; each pattern runs only on the texts where
  it can match (see `_count_arrow`). The counts are those of RE2 over every text.
- small batches (the API: 1-16 texts per call): Python's `re`, compiled once. A pattern runs only when a cheap
  test on the text's bytes (its prefilter, below) says it could match; otherwise its count is 0, which is what
  `findall` would have said. The counts are those of `findall` over every text.

The tests check each path against its plain definition on texts built to sit on both sides of every prefilter,
and the two paths against each other.
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

#: Cue column names, in the order `spam_cues` returns them.
CUE_NAMES: tuple[str, ...] = (*_PATTERNS, "uppercase_ratio", "log_chars")

#: Below this many texts, compiled Python regexes beat Arrow, which compiles its patterns on every call.
SMALL_BATCH = 256

# Patterns that cannot match a text without an ASCII digit (every alternative holds a [0-9]), and the pattern
# that cannot match pure ASCII (its class is all above U+2600). Both paths skip them on such texts.
_NEED_DIGIT = frozenset({"money", "phone_like", "digit_in_word"})
_NEED_NON_ASCII = frozenset({"emoji"})

# Small-batch prefilters. Each is a necessary condition for its pattern to match, tested on the text's UTF-8
# bytes (`data`) or on those bytes with the ASCII letters lower-cased (`lowered`: `bytes.lower` touches nothing
# else). The patterns' matches are ASCII apart from currency signs and emoji, so lower-cased they are the same
# bytes, and every prefilter only asks for a piece that every alternative of its pattern must contain. A text
# a prefilter rejects therefore has no match (count 0); a text it accepts is counted by the pattern itself, so
# the counts are the pattern's whatever the prefilter lets through. No \b in the prefilters: it is the one test
# whose answer could differ between a text and its lower-cased bytes. Searches start with a literal byte where
# possible, which `re` finds with a fast scan instead of trying the pattern at every position.
_TLDS = rb"(?:com|net|org|info|biz|xyz|io|co|ly|me|site|online|top|club|shop|link|ru|us)"
# link: the separators "(dot)", "[dot]" and " dot " all hold "dot"; otherwise "://", "www." or "." and a domain.
_LINK = rb"://|\.(?:(?<=www\.)|\s?" + _TLDS + rb")"
# money, in texts with a digit: "$" or a non-ASCII currency sign (€ £ ¥), or, with digits mapped to "0", a
# digit run followed by a unit, or a comma between digits.
_MONEY = rb"0(?:[0,.]*\s?(?:usd|dollars|bucks|k)|,0)"
_EARNING = rb"(?:per|a|an|each|every|/)\s?(?:hour|hr|day|week|wk|month|mo|year|yr)"
# contact_prompt: "@", "dm", "whats", "telegram", or a piece of another alternative. The pieces ending in a
# space are searched in the reversed bytes, where they start with it (a literal first byte is what makes a
# search fast); "signal me", "call me", "email me" end in "l me", "pm me" and "inbox me" in "m me" / "x me",
# "message me" and "text me" in "e me" / "t me".
_CONTACT_REVERSED = rb" (?:tcatnoc|hcaer|kcehc|ni knil|kcilc)"
_ME_REVERSED = rb"em [lmxet]"
# phone_like, with digits mapped to "0", O o S l I to "o", its separators to "-", and the bytes reversed: the
# final digit, then six characters that can stand for digits, each after at most three separators.
_PHONE_REVERSED = rb"0(?:-{0,3}[0o]){6}"
# spelled_digits, with its separators mapped to "#": separators, a number word, separators, a number word (the
# pattern has at least four words, each but the first after separators: the second and third are these).
_NUMBER = rb"(?:zero|one|two|three|four|five|six|seven|eight|nine|oh)"
_SPELLED = rb"#" + _NUMBER + rb"#+" + _NUMBER
# repeated_char: a character four times (case folded), once adjacent bytes are known to repeat three times.
_REPEATED = rb"([a-z!?.$])\1\1\1"
_DIGIT_IN_WORD = rb"0[a-z]"  # digits mapped to "0": a digit run followed by a letter
_SPACED = b"a a a a"  # letters mapped to "a": four single letters, each but the last followed by a space


def spam_cues(texts: Sequence[str]) -> np.ndarray:
    """One row per text, one column per name in CUE_NAMES; counts are log1p-scaled so one link matters most."""
    n = len(texts)
    if n == 0:
        return np.zeros((0, len(CUE_NAMES)), dtype=np.float64)
    if n < SMALL_BATCH:
        # A few texts (the API): whole rows in Python, one array at the end; numpy's per-call cost would be
        # a third of the work here.
        return np.array([_cue_row(text) for text in texts], dtype=np.float64)
    counts, uppers, letters, lengths = _count_arrow(texts)
    out = np.empty((n, len(CUE_NAMES)), dtype=np.float64)
    out[:, : len(_PATTERNS)] = np.log1p(counts)
    # Short texts ("OK") are not shouting: the ratio only counts once a comment has a few letters.
    out[:, -2] = np.where(letters >= 8, uppers / np.maximum(letters, 1.0), 0.0)
    out[:, -1] = np.log1p(lengths)
    return out


def _cue_row(text: str) -> list[float]:
    """One row of `spam_cues`, the same numbers as the batch formulas above."""
    *counts, uppers, letters, length = _count_text(text)
    row = [_log1p(count) for count in counts]
    row.append(uppers / max(letters, 1) if letters >= 8 else 0.0)
    row.append(_log1p(length))
    return row


def _log1p(value: int) -> float:
    table = _log1p_table()
    return table[value] if value < len(table) else float(np.log1p(np.array([value], dtype=np.float64))[0])


@cache
def _log1p_table() -> list[float]:
    """numpy's log1p of 0 .. 32767 (counts and lengths of normalised texts), computed by the same ufunc as the
    batch path, so a row built here equals the row the batch formulas give, bit for bit."""
    return np.log1p(np.arange(1 << 15, dtype=np.float64)).tolist()


# -- small batches: Python's re, behind prefilters -----------------------------------------------------
def _table(mapping: dict[int, int]) -> bytes:
    return bytes(mapping.get(b, b) for b in range(256))


_DIGITS = range(0x30, 0x3A)
_TO_ZERO = _table(dict.fromkeys(_DIGITS, 0x30))
_PHONE_CLASSES = _table({**dict.fromkeys(range(256), ord("x")), **dict.fromkeys(_DIGITS, 0x30),
                         **dict.fromkeys(b"OoSlI", ord("o")), **dict.fromkeys(b" ().-", ord("-"))})
_SEPARATORS = _table(dict.fromkeys(b" ,.-", ord("#")))
_LETTERS_TO_A = _table(dict.fromkeys(range(0x61, 0x7B), ord("a")))  # applied to lower-cased bytes
_NOT_UPPER = bytes(b for b in range(256) if not 0x41 <= b <= 0x5A)
_NOT_LETTER = bytes(b for b in range(256) if not (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A))
_NOT_DIGIT = bytes(b for b in range(256) if b not in _DIGITS)


@cache
def _compiled() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[bytes], ...]]:
    """The patterns (Python's re, ASCII classes) in _PATTERNS order, and the prefilters that are regexes."""
    patterns = tuple(re.compile(pattern, re.ASCII | (re.IGNORECASE if ignore_case else 0))
                     for pattern, ignore_case in _PATTERNS.values())
    prefilters = (_LINK, _MONEY, _EARNING, _CONTACT_REVERSED, _ME_REVERSED, _PHONE_REVERSED, _SPELLED, _REPEATED,
                  _DIGIT_IN_WORD)
    return patterns, tuple(re.compile(prefilter) for prefilter in prefilters)


def _count_python(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pattern counts, [A-Z] counts, [A-Za-z] counts and lengths, as `_count_arrow` gives them."""
    rows = np.array([_count_text(text) for text in texts], dtype=np.float64).reshape(len(texts), -1)
    return rows[:, : len(_PATTERNS)], rows[:, -3], rows[:, -2], rows[:, -1]


def _count_text(text: str) -> list[int]:
    """The pattern counts of one text (in _PATTERNS order), then its [A-Z] count, [A-Za-z] count and length."""
    (link, money, earning, contact, phone, spelled, _exclamation, repeated, digit_in_word, spaced, emoji), (
        link_pre, money_pre, earning_pre, contact_pre, me_pre, phone_pre, spelled_pre, repeated_pre,
        digit_in_word_pre,
    ) = _compiled()
    # "surrogatepass": a lone surrogate becomes bytes above 0x7F, which no prefilter looks for.
    data = text.encode("utf-8", "surrogatepass")
    lowered = data.lower()
    is_ascii = text.isascii()
    has_digit = bool(data.translate(None, _NOT_DIGIT))
    zeroed = lowered.translate(_TO_ZERO) if has_digit else b""
    counts = [0] * 11
    if b"dot" in lowered or link_pre.search(lowered) is not None:
        counts[0] = len(link.findall(text))
    if has_digit and (not is_ascii or b"$" in data or money_pre.search(zeroed) is not None):
        counts[1] = len(money.findall(text))
    if earning_pre.search(lowered) is not None:
        counts[2] = len(earning.findall(text))
    if (b"@" in lowered or b"dm" in lowered or b"whats" in lowered or b"telegram" in lowered
            or _search_reversed(contact_pre, me_pre, lowered)):
        counts[3] = len(contact.findall(text))
    if has_digit and phone_pre.search(data.translate(_PHONE_CLASSES)[::-1]) is not None:
        counts[4] = len(phone.findall(text))
    if spelled_pre.search(lowered.translate(_SEPARATORS)) is not None:
        counts[5] = len(spelled.findall(text))
    counts[6] = text.count("!")
    if _repeats_three_times(lowered) and repeated_pre.search(lowered) is not None:
        counts[7] = len(repeated.findall(text))
    if has_digit and digit_in_word_pre.search(zeroed) is not None:
        counts[8] = len(digit_in_word.findall(text))
    if _SPACED in lowered.translate(_LETTERS_TO_A):
        counts[9] = len(spaced.findall(text))
    if not is_ascii:
        counts[10] = len(emoji.findall(text))
    letters = data.translate(None, _NOT_LETTER)
    return [*counts, len(letters.translate(None, _NOT_UPPER)), len(letters), len(text)]


def _search_reversed(first: re.Pattern[bytes], second: re.Pattern[bytes], data: bytes) -> bool:
    reversed_data = data[::-1]
    return first.search(reversed_data) is not None or second.search(reversed_data) is not None


def _repeats_three_times(data: bytes) -> bool:
    """True if some byte equals the next, that one the next, and that one the next (four equal bytes in a row):
    the XOR of the bytes with the same bytes shifted by one has three zero bytes in a row."""
    shifted = int.from_bytes(data, "big") ^ int.from_bytes(data[1:] + b"\0", "big")
    return b"\0\0\0" in shifted.to_bytes(len(data), "big")


# -- large batches: Arrow's RE2 kernels over the batch -------------------------------------------------
def _count_arrow(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pattern counts, [A-Z] counts, [A-Za-z] counts and lengths of every text.

    Each pattern runs only on the texts where it can match: the digit patterns on texts with a digit, emoji on
    texts that are not pure ASCII, and within each group only on the texts that match the group's union (one
    RE2 pass that finds, for example, the quarter of texts where any of the other patterns matches). A text
    left out has no match, so its count is 0.
    """
    array = pa.array(texts, type=pa.large_string())
    n = len(array)
    uppers, letters, exclamations, digits = _byte_counts(array)
    names = list(_PATTERNS)
    others = tuple(name for name in names if name not in _NEED_DIGIT | _NEED_NON_ASCII | {"exclamation"})
    groups: list[tuple[np.ndarray | None, tuple[str, ...]]] = [
        (digits > 0, tuple(name for name in names if name in _NEED_DIGIT)),
        (~pc.string_is_ascii(array).to_numpy(zero_copy_only=False), tuple(_NEED_NON_ASCII)),
        (None, others),
    ]
    counts = np.zeros((n, len(_PATTERNS)), dtype=np.float64)
    counts[:, names.index("exclamation")] = exclamations
    for mask, group in groups:
        subset = _subset(array, mask) if mask is not None else (None, array)
        if subset is not None and len(group) > 1:
            subset = _narrowed(subset, pc.match_substring_regex(subset[1], _union(group)))
        if subset is None:
            continue
        rows, target = subset
        for name in group:
            pattern, ignore_case = _PATTERNS[name]
            values = pc.count_substring_regex(target, pattern, ignore_case=ignore_case).to_numpy(zero_copy_only=False)
            if rows is None:
                counts[:, names.index(name)] = values
            else:
                counts[rows, names.index(name)] = values
    lengths = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64)
    return counts, uppers, letters, lengths


def _narrowed(
    subset: tuple[np.ndarray | None, pa.Array], hits: pa.Array
) -> tuple[np.ndarray | None, pa.Array] | None:
    """The rows of a subset where `hits` holds (None if there are none)."""
    rows, target = subset
    mask = hits.to_numpy(zero_copy_only=False)
    if mask.all():
        return subset
    if not mask.any():
        return None
    return (np.flatnonzero(mask) if rows is None else rows[mask]), target.filter(hits)


@cache
def _union(names: tuple[str, ...]) -> str:
    """One RE2 pattern that matches wherever one of the named patterns does (each keeps its case rule)."""
    return "|".join(f"(?i:{_PATTERNS[name][0]})" if _PATTERNS[name][1] else f"(?:{_PATTERNS[name][0]})"
                    for name in names)


def _subset(array: pa.Array, mask: np.ndarray) -> tuple[np.ndarray | None, pa.Array] | None:
    """The rows where `mask` holds and the texts there (rows None: every row); None if there are none."""
    if mask.all():
        return None, array
    rows = np.flatnonzero(mask)
    if not len(rows):
        return None
    return rows, array.take(pa.array(rows))


# Bytes -> four counters packed in 16-bit fields: A-Z, A-Za-z, "!", 0-9. ASCII bytes are whole characters in
# UTF-8 (bytes of longer sequences are all >= 0x80), so these are the character counts.
_FIELD_BITS = 16


@cache
def _byte_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint64)
    for code in range(256):
        char = chr(code)
        fields = ("A" <= char <= "Z", char.isascii() and char.isalpha(), char == "!", "0" <= char <= "9")
        table[code] = sum(int(on) << (_FIELD_BITS * k) for k, on in enumerate(fields))
    return table


def _byte_counts(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per text: counts of [A-Z], [A-Za-z], "!" and [0-9], read off the UTF-8 bytes in one pass."""
    n = len(array)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=array.offset * 8)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    data = data[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    filled = lengths > 0
    starts = (offsets[:-1] - offsets[0])[filled]
    table = _byte_table()
    fields = np.zeros((4, n), dtype=np.float64)
    if not len(starts):
        return fields[0], fields[1], fields[2], fields[3]
    if int(lengths.max()) < 1 << _FIELD_BITS:  # no field can overflow into the next
        sums = np.add.reduceat(np.take(table, data), starts)
        mask = np.uint64((1 << _FIELD_BITS) - 1)
        for k in range(4):
            fields[k, filled] = (sums >> np.uint64(_FIELD_BITS * k)) & mask
    else:
        for k in range(4):
            flags = ((table >> np.uint64(_FIELD_BITS * k)) & np.uint64(1)).astype(np.int64)
            fields[k, filled] = np.add.reduceat(flags[data], starts)
    return fields[0], fields[1], fields[2], fields[3]
