"""Text normalisation and spam cues on any unicode: total, idempotent, and the same on both cue paths.

The cue counters skip a pattern where a cheap test says it cannot match (prefilters in the small-batch path,
row subsets in the batch path). Every count is compared here with the one definition both paths share, on texts
built from the pieces the prefilters look for, so that texts fall on both sides of every prefilter: one Arrow
`count_substring_regex` (RE2) of each pattern of `model.cues._PATTERNS` over the whole batch. Hostile texts
(long runs, look-alike letters) are in test_hostile_cues.py.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.cues import (
    _ASCII_FOLDS,
    _PATTERNS,
    CUE_NAMES,
    SMALL_BATCH,
    _count_arrow,
    _count_python,
    spam_cues,
)
from model.text import MAX_MODEL_CHARS, normalize_text


def reference_counts(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The definition of both paths: every pattern counted by Arrow's RE2 kernel over every text, then [A-Z],
    [A-Za-z] and length. It differs from Python's `findall` in known ways: after a match, Arrow restarts on the
    rest of the text as if it began there, so a \\b right after a match holds ("@gmaildm" has two contact
    prompts for Arrow, one for `re`), and under case folding "k" matches the Kelvin sign and "s" the long s."""
    array = pa.array(texts, type=pa.large_string())
    counts = np.column_stack([pc.count_substring_regex(array, p, ignore_case=i).to_numpy(zero_copy_only=False)
                              for p, i in _PATTERNS.values()]).astype(np.float64)
    return _with_letters(counts, texts)


def _with_letters(counts: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    uppers = np.array([len(re.findall("[A-Z]", t)) for t in texts], dtype=np.float64)
    letters = np.array([len(re.findall("[A-Za-z]", t)) for t in texts], dtype=np.float64)
    lengths = np.array([len(t) for t in texts], dtype=np.float64)
    return counts, uppers, letters, lengths


def assert_counts_equal(got: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...], texts: list[str]) -> None:
    for name, a, b in zip(("patterns", "uppers", "letters", "lengths"), got, expected, strict=True):
        if not np.array_equal(a, b):
            rows = sorted({int(r) for r in np.argwhere(a != b)[:, 0]})
            raise AssertionError(f"{name} differ for {[texts[r] for r in rows[:3]]!r}: {a[rows[:3]]} != {b[rows[:3]]}")


# Pieces of the patterns and of their prefilters, near misses, case variants and the characters where Python's
# re and RE2 could disagree (non-ASCII case folds: İ ı ſ K), so that random joins land on both sides of every
# prefilter: a piece completes a match, or stops one short.
PIECES = [
    "://", "http", "https://", "www.", "WWW.", "dot", " dot ", "(dot)", "[DOT]", ".", ". ", "com", "CO", "me", "us",
    "example", "x-y", ".com", " .net", "ru",
    "$", "€", "£", "¥", "usd", "USD", "dollars", "bucks", "k", "K", "0", "5", "12", "1,000", ",", "9,99", "5k",
    "per", "a", "an", "each", "every", "/", "hour", "hr", "day", "Week", "wk", "month", "mo", "year", "yr",
    "whats", "app", "WhatsApp", "telegram", "signal me", "dm", "DM", "pm me", "inbox me", "message me", "text me",
    "call me", "Email Me", "contact ", "reach ", "him", "her", "check ", "out ", "my ", "profile", "page", "channel",
    "bio", "link in ", "@", "gmail", "proton", "click ", "here", "the link",
    "+", "O", "o", "S", "s", "l", "I", "i", "(", ")", "-", "555", "0l2", "SOS",
    "zero", "one", "two", "three", "Four", "five", "six", "seven", "eight", "nine", "oh", ", ", "-",
    "!", "!!", "!!!!", "?", "??", "....", "$$$$", "aaa", "AAaa", "zz", "ZZZZ",
    "x1y", "A9b", "abc123def",
    "b ", "c ", "D ", "e", " ",
    "😀", "☀", "\u2600", "\u27bf", "\U0001f300", "\U0001faff", "\U0001f000", "\U0001f2ff", "é", "İ", "ı", "ſ", "K",
    "\n", "\t", "_",
]
edge_texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=14).map("".join)


@given(st.text())
def test_normalize_is_total_and_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert isinstance(once, str)
    assert normalize_text(once) == once
    assert len(once) <= MAX_MODEL_CHARS
    once.encode("utf-8")  # no lone surrogates survive


def test_normalize_folds_disguised_text() -> None:
    assert normalize_text("  𝗰𝗮𝘀𝗵 \u200bnow\x00 ") == "cash now"
    assert normalize_text("ｆｒｅｅ  \n\n money") == "free\nmoney"
    assert normalize_text("x" * (MAX_MODEL_CHARS + 50)) == "x" * MAX_MODEL_CHARS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), min_size=1, max_size=20))
def test_python_and_arrow_cue_counts_agree(texts: list[str]) -> None:
    texts = [normalize_text(t) for t in texts]
    for a, b in zip(_count_python(texts), _count_arrow(texts), strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=300, deadline=None)
@given(st.lists(edge_texts, min_size=1, max_size=12))
def test_prefiltered_counts_equal_the_plain_definition(texts: list[str]) -> None:
    """Both paths against the definition, raw and normalised (the API normalises; the prefilters must not
    rely on it)."""
    for batch in (texts, [normalize_text(t) for t in texts]):
        assert_counts_equal(_count_python(batch), reference_counts(batch), batch)
        assert_counts_equal(_count_arrow(batch), reference_counts(batch), batch)


# For each pattern: texts that match (counted only after passing its prefilter) and near misses that only a
# prefilter sitting exactly on its edge rejects. `expected` is the RE2 count, asserted so these texts keep
# testing what they claim to.
EDGES: dict[str, list[tuple[str, int]]] = {
    "link": [("see http://x", 1), ("WWW.site", 1), ("shop.example.COM now", 1), ("go to abc (dot) com", 1),
             ("ab [dot] ru", 1), ("ab dot us", 1), ("ab . co", 1), ("ab.\tio", 1), ("a.com", 0), ("ab.comx", 0),
             ("ab dotcom", 0), ("ww.x", 0), ("http:/x", 0), ("ab.  com", 0)],
    "money": [("$5", 1), ("€ 5", 1), ("£12.50", 1), ("¥3", 1), ("5$", 1), ("12 USD", 1), ("5k", 1), ("5 K!", 1),
              ("40 bucks", 1), ("1,000,000", 1), ("5 kg", 0), ("5", 0), ("$x5", 0), ("1,00", 0), ("usd", 0),
              ("five dollars", 0)],
    "earning_rate": [("$5 per hour", 1), ("50/hr", 1), ("a day", 1), ("Each Week", 1), ("every\nyear", 1),
                     ("anmo", 1), ("per  hour", 0), ("hourly", 0), ("aday", 1), ("days", 0), ("mo", 0)],
    "contact_prompt": [("WhatsApp", 1), ("whats app", 1), ("on Telegram", 1), ("DM", 1), ("dm me", 1),
                       ("admin", 0), ("pm me", 1), ("PM ME", 1), ("inbox me", 1), ("message me", 1), ("text me", 1),
                       ("call me", 1), ("email me", 1), ("signal me", 1), ("contact us", 1), ("reach her", 1),
                       ("check out my page", 1), ("check my bio", 1), ("link in bio", 1), ("link in my profile", 1),
                       ("x@gmail", 1), ("click here", 1), ("click the link", 1), ("callme", 0), ("contact them", 0),
                       ("check out my", 0), ("@me", 0), ("click", 0)],
    "phone_like": [("555 0123", 1), ("5550123", 1), ("+1 (555) 012-3456", 1), ("O12 34S6 7", 1),
                   ("lIOoSl 1", 1), ("lIOoS 1", 0), ("SOS lol 7", 1), ("555012", 0), ("55501234 x", 1),
                   ("555    0123", 0), ("555 - 0123", 1), ("555 -  0123", 0), ("sos lol 7", 0), ("OOOOOOO", 0)],
    "spelled_digits": [("one two three four", 1), ("Oh, Five - six.seven", 1), ("zero one two", 0),
                       ("one two three fourteen", 0), ("nine nine nine nine nine", 1), ("one,two,three,four", 1),
                       ("someone two three four", 0)],
    "exclamation": [("wow!", 1), ("!!!", 3), ("no", 0)],
    "repeated_char": [("soooo", 1), ("SOOoo", 1), ("!!!!", 1), ("????", 1), ("....", 1), ("$$$$", 1),
                      ("aaaaaaaa", 1), ("aaa", 0), ("----", 0), ("0000", 0), ("ooo o", 0), ("    ", 0)],
    "digit_in_word": [("c4sh", 1), ("FR33Dom", 1), ("x1y", 1), ("4sale", 0), ("cash4", 0), ("c4_sh", 0)],
    "spaced_letters": [("f r e e", 1), ("F R E E money", 1), ("a b c", 0), ("a b c de", 0), ("a  b c d", 0),
                       ("1 2 3 4", 0)],
    "emoji": [("hi 😀", 1), ("☀", 1), ("\u27bf", 1), ("\U0001f2ff", 1), ("\U0001faff", 1), ("é", 0), ("\u27c0", 0)],
}


@pytest.mark.parametrize("name", list(EDGES))
def test_each_prefilter_at_its_edge(name: str) -> None:
    texts = [text for text, _ in EDGES[name]]
    column = list(_PATTERNS).index(name)
    expected = reference_counts(texts)
    np.testing.assert_array_equal(expected[0][:, column], [count for _, count in EDGES[name]])
    assert_counts_equal(_count_python(texts), expected, texts)
    assert_counts_equal(_count_arrow(texts), reference_counts(texts), texts)


# Where RE2 and Python's re differ, the prefilters follow RE2: a \b right after a match holds (Arrow restarts on
# the rest of the text), and under case folding the Kelvin sign K is a k and the long s ſ an s (but neither is a
# word character for \b).
RE2_EDGES: list[tuple[str, str, int]] = [
    ("contact_prompt", "@gmaildm", 2), ("contact_prompt", "chec\u212a out my page", 1),
    ("contact_prompt", "whatſapp", 1), ("link", "ab.ſite", 1), ("link", "ab.ſhop", 1), ("link", "ab.uſ", 0),
    ("money", "5 uſd", 1), ("money", "5 dollarſ", 1), ("money", "5\u212a", 0), ("repeated_char", "ſſſſ", 1),
    ("repeated_char", "sſSſ", 1), ("repeated_char", "\u212akkK", 1), ("digit_in_word", "c4ſh", 1),
    ("digit_in_word", "a9\u212aa", 1), ("digit_in_word", "\u212a9k", 0), ("spaced_letters", "f r \u212a e", 1),
    ("spaced_letters", "f r e \u212a", 0), ("spelled_digits", "one  two,,three--four", 1),
]


@pytest.mark.parametrize(("name", "text", "expected"), RE2_EDGES)
def test_prefilters_follow_re2_where_it_differs_from_python_re(name: str, text: str, expected: int) -> None:
    texts = [text, text.upper(), f"x {text} y"]
    counts = reference_counts(texts)
    assert counts[0][0, list(_PATTERNS).index(name)] == expected
    assert_counts_equal(_count_python(texts), counts, texts)
    assert_counts_equal(_count_arrow(texts), counts, texts)


def test_the_ascii_case_folds_are_all_known() -> None:
    """The prefilters write K and ſ as k and s; no other character folds to an ASCII letter under RE2."""
    others = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    folds = pc.match_substring_regex(pa.array(others), "^[a-z]$", ignore_case=True).to_numpy(zero_copy_only=False)
    assert {others[i] for i in np.flatnonzero(folds)} == set(_ASCII_FOLDS)


def test_letter_counts_survive_long_texts_and_empty_rows() -> None:
    """Rows longer than the packed byte counters hold (64 KiB) and empty rows anywhere in the batch."""
    packed = ["", "A" * 300 + "b" * 300 + "!" * 300 + "7" * 300, "", "x"]
    assert_counts_equal(_count_arrow(packed), reference_counts(packed), packed)
    texts = ["", "ABC def!", "", "Xy9" * 30_000, "É" * 40_000 + "AB", ""]
    assert_counts_equal(_count_arrow(texts), reference_counts(texts), texts)
    assert_counts_equal(_count_python(texts), reference_counts(texts), texts)
    padded = texts + ["filler"] * SMALL_BATCH
    np.testing.assert_array_equal(spam_cues(texts), spam_cues(padded)[: len(texts)])


def test_cues_fire_on_spam_shapes_and_not_on_plain_news_talk() -> None:
    names = list(CUE_NAMES)
    texts = ["i make $75 per hour watching tv http://cash.example.com",
             "message me on whats app 5 5 5-O12-34S6",
             "plus one five five five zero one two three",
             "The council voted 5-2 on Tuesday."]
    cues = np.round(np.expm1(spam_cues(texts)))
    assert cues[0, names.index("link")] >= 1 and cues[0, names.index("money")] == 1
    assert cues[0, names.index("earning_rate")] == 1
    assert cues[1, names.index("contact_prompt")] >= 1 and cues[1, names.index("phone_like")] == 1
    assert cues[2, names.index("spelled_digits")] == 1
    assert cues[3, : names.index("uppercase_ratio")].sum() == 0


def test_large_and_small_batches_give_the_same_cues() -> None:
    texts = [f"Earn ${i},000 a month, DM me!!! {'x' * (i % 7)}" for i in range(SMALL_BATCH + 5)]
    np.testing.assert_array_equal(spam_cues(texts)[:10], spam_cues(texts[:10]))


@settings(max_examples=40, deadline=None)
@given(st.lists(edge_texts, min_size=1, max_size=8))
def test_small_batch_rows_equal_the_batch_formulas(texts: list[str]) -> None:
    """The small path builds its rows in Python (log1p from a table of numpy's values); the batch path applies
    numpy to whole columns. From the same counts they give the same bits."""
    texts = [normalize_text(t) for t in texts]
    counts, uppers, letters, lengths = (np.ascontiguousarray(a) for a in _count_python(texts))
    expected = np.empty((len(texts), len(CUE_NAMES)))
    expected[:, : counts.shape[1]] = np.log1p(counts)
    expected[:, -2] = np.where(letters >= 8, uppers / np.maximum(letters, 1.0), 0.0)
    expected[:, -1] = np.log1p(lengths)
    np.testing.assert_array_equal(spam_cues(texts), expected)
