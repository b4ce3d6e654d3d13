"""Surface cues that spam carries whatever its words: links, money, contact prompts, phone numbers, shouting.

The word features learn which words spammers used last year; these cues describe how spam is built, which
changes more slowly. Every pattern is counted by RE2, whose time is linear in the text whatever the pattern and
the text (Python's backtracking `re` took seconds on some 20 KB comments, on the service's event loop). Two
paths count them, each skipping the work that cannot change a count:

- large batches (`SMALL_BATCH` texts or more): Arrow's RE2 kernels (C++) over the whole batch. Letters, capitals,
  "!" and digits are counted in one numpy pass over the UTF-8 bytes; each pattern runs only on the texts where
  it can match (see `_count_arrow`). The counts are those of RE2 over every text.
- small batches (the API: 1-16 texts per call): the same RE2 patterns through `model.cue_engine`, compiled once
  (Arrow compiles its patterns on every call, which would cost more than the counting). A pattern runs only
  when a cheap test on the text's bytes (its prefilter, below) says it could match; otherwise its count is 0,
  which is what RE2 would have said. The counts are those of Arrow's `count_substring_regex` over every text.

The tests check each path against that definition on texts built to sit on both sides of every prefilter, and
on hostile texts (long runs of digits, separators and look-alike letters) built to make a backtracking engine
slow (`tests/model/test_hostile_cues.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from model.cue_engine import CuePattern, compile_pattern, count_matches, find, match_at
from model.cue_prefilters import PREFILTERS as _PREFILTERS
from model.cue_prefilters import SPACED as _SPACED

# money: a currency sign before an amount, a unit after one, or digits grouped by commas. Texts with a long run
# of digits are counted from these alternatives (see LONG_RUN and `_count_money`).
_MONEY_SIGN_FIRST = r"[$€£¥]\s?[0-9][0-9,.]*"
_MONEY_UNIT_AFTER = r"[0-9][0-9,.]*\s?(?:\$|€|£|usd|dollars|bucks|k\b)"
_MONEY_GROUPED = r"\b[0-9]{1,3}(?:,[0-9]{3})+\b"
_MONEY_ALTERNATIVES = (_MONEY_SIGN_FIRST, _MONEY_UNIT_AFTER, _MONEY_GROUPED)

# name -> (pattern, ignore_case), counted as matches per comment: RE2 syntax, run by RE2 on both paths (with
# Arrow's options: UTF-8, and case folding where asked, under which "k" also matches the Kelvin sign K and "s"
# the long s ſ). \b, \s and [a-z] are ASCII in RE2; \s is [\t\n\f\r ].
_PATTERNS: dict[str, tuple[str, bool]] = {
    "link": (
        r"https?://|www\.|\b[a-z0-9-]{2,}\s?(?:\.|\(dot\)|\[dot\]| dot )\s?"
        r"(?:com|net|org|info|biz|xyz|io|co|ly|me|site|online|top|club|shop|link|ru|us)\b",
        True,
    ),
    "money": ("|".join(_MONEY_ALTERNATIVES), True),
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

#: Below this many texts, RE2 programs compiled once and called from Python beat Arrow, which compiles its
#: patterns on every call.
SMALL_BATCH = 256

# A run of this many [0-9,.] bytes is "long" for money, the one pattern whose count can read the text more
# than a bounded number of times. After a match of digits grouped by commas inside a run, RE2 reads on to the
# end of the run to see whether a unit follows it (the unit alternative, preferred, would then match from the
# run's first digit), and the next search starts just after the match, so a run holding k matches is read k
# times: `"1,000." * 3333` cost 55 ms per 20 KB text in Arrow, 15 s for a 256-comment request. In a run that
# no unit follows, money's matches are those of the other two alternatives, which end inside the run; they are
# counted there with searches that stop at the run's end (`_count_money`). Elsewhere each search reads at most
# a short run (under LONG_RUN bytes) and a unit past its match.
LONG_RUN = 64
_LONG_RUN_PATTERN = f"[0-9,.]{{{LONG_RUN}}}"

# Patterns that cannot match a text without an ASCII digit (every alternative holds a [0-9]), and the pattern
# that cannot match pure ASCII (its class is all above U+2600). Both paths skip them on such texts.
_NEED_DIGIT = frozenset({"money", "phone_like", "digit_in_word"})
_NEED_NON_ASCII = frozenset({"emoji"})



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
    *counts, uppers, letters, length = _count_text(text, _compiled())
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


# -- small batches: RE2 pattern by pattern, behind prefilters ----------------------------------------
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
# The non-ASCII letters that RE2's case folding matches with an ASCII letter (checked against Arrow over every
# code point in the tests): under (?i), "k" matches the Kelvin sign and "s" the long s.
_ASCII_FOLDS = {"\u212a": "k", "\u017f": "s"}
# [0-9,.] to "0", every other byte to "x": the runs money reads through (see LONG_RUN).
_RUN_BYTES = _table({**dict.fromkeys(range(256), ord("x")), **dict.fromkeys([*_DIGITS, *b",."], 0x30)})


class _Programs(NamedTuple):
    """What the small-batch path runs: every search of a pattern goes to RE2 (`CuePattern`), and Python's `re`
    runs only the prefilters, each of bounded width."""

    patterns: tuple[CuePattern, ...]  # in _PATTERNS order
    money_unit_after: CuePattern  # money's unit alternative
    money_others: CuePattern  # its other two alternatives, in their order
    prefilters: tuple[re.Pattern[bytes], ...]  # in _PREFILTERS order


@cache
def _compiled() -> _Programs:
    """The programs, compiled once per process (on first use: nothing is compiled at import)."""
    return _Programs(
        patterns=tuple(compile_pattern(pattern, ignore_case=case) for pattern, case in _PATTERNS.values()),
        money_unit_after=compile_pattern(_MONEY_UNIT_AFTER, ignore_case=True),
        money_others=compile_pattern(f"{_MONEY_SIGN_FIRST}|{_MONEY_GROUPED}", ignore_case=True),
        prefilters=tuple(re.compile(prefilter) for prefilter in _PREFILTERS),
    )


def _count_money(data: bytes, programs: _Programs) -> int:
    """Arrow's count of money in the UTF-8 bytes `data`, reading them a bounded number of times.

    Inside a long run that no unit follows, neither a currency sign nor a unit can start a match (a sign is not
    in the run; a unit alternative started at any digit of the run would need a unit after the run), so the
    count's next match there is the next match of the other two alternatives that ends in the run, if there is
    one: those alternatives end inside a run of digits, and a search for them reads at most the run.
    """
    money = programs.patterns[1]
    count = p = 0
    for run_start, run_end in _runs_without_unit(data, programs.money_unit_after):
        while p < run_end:
            if p >= run_start:
                match = find(programs.money_others, data, p, run_end)
                if match is None:  # the next match starts after the run: a search from p reads the run once
                    break
            else:
                match = find(money, data, p)
                if match is None:
                    return count
            count += 1
            p = match[1]
    return count + count_matches(money, data, start=p)


def _runs_without_unit(data: bytes, unit_after: CuePattern) -> list[tuple[int, int]]:
    """Where `data` has a run of at least LONG_RUN [0-9,.] bytes, holding a digit, that no unit follows."""
    marks = data.translate(_RUN_BYTES)
    long_run = b"0" * LONG_RUN
    runs = []
    found = marks.find(long_run)
    while found >= 0:
        run_start = marks.rfind(b"x", 0, found) + 1
        run_end = marks.find(b"x", found)
        run_end = len(marks) if run_end < 0 else run_end
        digits = data[run_start:run_end].lstrip(b",.")
        # The unit alternative matches from a digit of the run iff a unit follows the run, whichever the digit:
        # ask from the first (it cannot look behind where it starts).
        if digits and match_at(unit_after, data, run_end - len(digits)) is None:
            runs.append((run_start, run_end))
        found = marks.find(long_run, run_end)
    return runs


def _count_python(
    texts: Sequence[str], programs: _Programs | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pattern counts, [A-Z] counts, [A-Za-z] counts and lengths, as `_count_arrow` gives them (`programs`:
    the compiled ones unless given, e.g. by a test that records what runs)."""
    programs = programs or _compiled()
    rows = np.array([_count_text(text, programs) for text in texts], dtype=np.float64).reshape(len(texts), -1)
    return rows[:, : len(_PATTERNS)], rows[:, -3], rows[:, -2], rows[:, -1]


def _count_text(text: str, programs: _Programs) -> list[int]:
    """The pattern counts of one text (in _PATTERNS order), then its [A-Z] count, [A-Za-z] count and length."""
    link, _money, earning, contact, phone, spelled, _exclamation, repeated, digit_in_word, spaced, emoji = (
        programs.patterns)
    (link_pre, money_pre, earning_pre, contact_pre, me_pre, phone_pre, spelled_pre, repeated_pre,
     digit_in_word_pre) = programs.prefilters
    # "surrogatepass": a lone surrogate becomes bytes above 0x7F, which no prefilter looks for.
    data = text.encode("utf-8", "surrogatepass")
    is_ascii = text.isascii()
    lowered = data.lower() if is_ascii else _folded(text).lower()
    has_digit = bool(data.translate(None, _NOT_DIGIT))
    zeroed = lowered.translate(_TO_ZERO) if has_digit else b""
    counts = [0] * 11
    if b"dot" in lowered or link_pre.search(lowered) is not None:
        counts[0] = count_matches(link, data)
    if has_digit and (not is_ascii or b"$" in data or money_pre.search(zeroed) is not None):
        counts[1] = _count_money(data, programs)
    if earning_pre.search(lowered) is not None:
        counts[2] = count_matches(earning, data)
    if (b"@" in lowered or b"dm" in lowered or b"whats" in lowered or b"telegram" in lowered
            or _search_reversed(contact_pre, me_pre, lowered)):
        counts[3] = count_matches(contact, data)
    if has_digit and phone_pre.search(data.translate(_PHONE_CLASSES)[::-1]) is not None:
        counts[4] = count_matches(phone, data)
    if spelled_pre.search(lowered.translate(_SEPARATORS)) is not None:
        counts[5] = count_matches(spelled, data)
    counts[6] = data.count(b"!")
    if _repeats_three_times(lowered) and repeated_pre.search(lowered) is not None:
        counts[7] = count_matches(repeated, data)
    if has_digit and digit_in_word_pre.search(zeroed) is not None:
        counts[8] = count_matches(digit_in_word, data)
    if _SPACED in lowered.translate(_LETTERS_TO_A):
        counts[9] = count_matches(spaced, data)
    if not is_ascii:
        counts[10] = count_matches(emoji, data)
    letters = data.translate(None, _NOT_LETTER)
    return [*counts, len(letters.translate(None, _NOT_UPPER)), len(letters), len(text)]


def _folded(text: str) -> bytes:
    """The UTF-8 bytes of a non-ASCII text with K and ſ written as the ASCII letters RE2's case folding equates
    them with, so that the prefilters, which look at ASCII bytes, see what a case-insensitive pattern sees."""
    for letter, ascii_letter in _ASCII_FOLDS.items():
        if letter in text:
            text = text.replace(letter, ascii_letter)
    return text.encode("utf-8", "surrogatepass")


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
            if name == "money":
                values = _count_money_arrow(target)
            else:
                values = pc.count_substring_regex(target, pattern, ignore_case=ignore_case).to_numpy(
                    zero_copy_only=False)
            if rows is None:
                counts[:, names.index(name)] = values
            else:
                counts[rows, names.index(name)] = values
    lengths = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64)
    return counts, uppers, letters, lengths


def _count_money_arrow(texts: pa.Array) -> np.ndarray:
    """money's count in each text: Arrow's kernel, except on texts with a long run of digits (see LONG_RUN),
    which `_count_money` counts one by one; the counts are the kernel's either way."""
    long_runs = pc.match_substring_regex(texts, _LONG_RUN_PATTERN).to_numpy(zero_copy_only=False)
    pattern, ignore_case = _PATTERNS["money"]
    if not long_runs.any():
        return pc.count_substring_regex(texts, pattern, ignore_case=ignore_case).to_numpy(zero_copy_only=False)
    values = np.zeros(len(texts), dtype=np.int64)
    short = ~long_runs
    if short.any():
        values[short] = pc.count_substring_regex(texts.filter(pa.array(short)), pattern,
                                                 ignore_case=ignore_case).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(long_runs)
    for row, text in zip(rows, texts.take(pa.array(rows)).to_pylist(), strict=True):
        values[row] = _count_money(text.encode("utf-8"), _compiled())
    return values


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
