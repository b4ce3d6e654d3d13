"""Spam cues on hostile texts: every pattern runs on RE2, and both cue paths count exactly what Arrow counts.

Python's backtracking `re` took 6-12 s on some 20 KB comments ("1,111 " + "1" * 19994 and others below), on
the service's event loop. Here: the small-batch path hands every pattern search to RE2 and runs Python's `re`
only on prefilters of bounded width (linear by construction); on scaled families of hostile texts its counts
equal the large-batch path's and its number of RE2 searches grows with the text, not faster; and property tests
generate adversarial texts around each pattern (long digit runs, separators, repeated tokens, near-matches,
look-alike letters) on which the two paths agree. Timings are in bench/hostile_cost.py, not here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from model import cues
from model.cue_engine import (
    PYTHON_MATCHES,
    CuePattern,
    _search_of,
    compile_pattern,
    count_matches,
    find,
    match_at,
)
from model.cues import _PATTERNS, _PREFILTERS, LONG_RUN, SMALL_BATCH, _count_arrow, _count_python, spam_cues
from model.text import normalize_text
from tests.model.test_text_and_cues import assert_counts_equal, reference_counts


def repeated(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


# name -> text of a given length. The first three are the texts of the issue; the rest aim at each pattern's
# loops (long runs it reads through, many matches, near misses that keep it reading).
FAMILIES: dict[str, Callable[[int], str]] = {
    "grouped digits, then a long run": lambda n: "1,111 " + "1" * (n - 6),
    "seven digits, then look-alike O": lambda n: "1234567 " + "O" * (n - 8),
    "a domain, then a-a-a-": lambda n: "x.com " + repeated("a-", n - 6),
    "1,000. (a grouped amount, again and again)": lambda n: repeated("1,000.", n),
    "1,000. with a unit at the end": lambda n: repeated("1,000.", n - 4) + "x 1k",
    "a unit first, then 1,000.": lambda n: "1k " + repeated("1,000.", n - 3),
    "$1$1$1": lambda n: repeated("$1", n),
    "$1 then a long run": lambda n: repeated("$1", n - 100) + " " + repeated("1,000.", 99),
    "runs just under LONG_RUN": lambda n: repeated(repeated("1,000.", LONG_RUN - 1) + "x", n - 3) + " 1k",
    "digits and separators": lambda n: repeated("1 (2) 3-4.5 ", n),
    "look-alikes lOSI": lambda n: repeated("lOSI0 ", n),
    "plus signs": lambda n: repeated("+1 ", n),
    "www.": lambda n: repeated("www.", n),
    "ab.com": lambda n: repeated("ab.com ", n),
    "dot com": lambda n: repeated("ab dot com ", n),
    "dm": lambda n: repeated("dm ", n),
    "@gmail": lambda n: repeated("@gmaildm", n),
    "per hour": lambda n: repeated("a day per hour ", n),
    "spelled digits": lambda n: repeated("one two three ", n),
    "separators only": lambda n: "one" + " " * (n - 6) + "two",
    "aaaa": lambda n: repeated("aaaa ", n),
    "c4sh": lambda n: repeated("c4sh ", n),
    "spaced letters": lambda n: repeated("a ", n),
    "emoji": lambda n: repeated("😀", n),
    "exclamations": lambda n: "!" * n,
}
SIZES = (5_000, 10_000, 20_000)


def recording(programs: cues._Programs) -> tuple[cues._Programs, list[str]]:
    """The same programs, each RE2 search writing its pattern down first."""
    searches: list[str] = []

    def record(cue: CuePattern) -> CuePattern:
        def search(anchored: bool, data: memoryview, start: int, end: int) -> tuple[int, int]:
            searches.append(cue.pattern)
            return cue.search(anchored, data, start, end)

        return dataclasses.replace(cue, search=search)

    return programs._replace(patterns=tuple(record(cue) for cue in programs.patterns),
                             money_unit_after=record(programs.money_unit_after),
                             money_others=record(programs.money_others)), searches


def test_python_re_runs_only_prefilters_of_bounded_width() -> None:
    """A backtracking search of a pattern that matches at most w bytes tries a bounded number of paths from
    each start: linear in the text. Every pattern itself is RE2's."""
    programs = cues._compiled()
    assert [cue.pattern for cue in programs.patterns] == [pattern for pattern, _ in _PATTERNS.values()]
    assert all(isinstance(cue, CuePattern) for cue in (*programs.patterns, programs.money_unit_after,
                                                       programs.money_others))
    assert [prefilter.pattern for prefilter in programs.prefilters] == list(_PREFILTERS)
    for prefilter in programs.prefilters:
        _, widest = re._parser.parse(prefilter.pattern, prefilter.flags).getwidth()  # type: ignore[attr-defined]
        assert widest <= 32, prefilter.pattern


def test_money_is_its_three_alternatives() -> None:
    assert _PATTERNS["money"] == ("|".join(cues._MONEY_ALTERNATIVES), True)
    programs = cues._compiled()
    assert programs.money_unit_after.pattern == cues._MONEY_UNIT_AFTER
    assert programs.money_others.pattern == f"{cues._MONEY_SIGN_FIRST}|{cues._MONEY_GROUPED}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_hostile_texts_are_counted_by_re2_as_the_large_batch_path_counts(family: str) -> None:
    searches_by_size = []
    for size in SIZES:
        text = FAMILIES[family](size)
        assert len(text) == size
        programs, searches = recording(cues._compiled())
        small = _count_python([text], programs)
        assert_counts_equal(small, _count_arrow([text]), [text[:80]])
        assert_counts_equal(small, reference_counts([text]), [text[:80]])
        searches_by_size.append(len(searches))
    # The RE2 searches (each linear in what it reads) grow with the text, not faster: one per match counted in
    # Python (past PYTHON_MATCHES of a pattern the rest goes to Arrow in one call) and a few per pattern. From
    # 10k to 20k characters a linear count adds twice what it added from 5k to 10k; a quadratic one, four times.
    small, middle, large = searches_by_size
    assert large - middle <= 2.5 * (middle - small) + 2 * len(_PATTERNS), searches_by_size


def test_the_issue_texts_through_spam_cues_equal_the_batch_path_rows() -> None:
    texts = [FAMILIES[name](20_000) for name in list(FAMILIES)[:3]]
    texts.append(texts[0] + texts[1][:0])
    padded = texts + ["filler"] * SMALL_BATCH
    np.testing.assert_array_equal(spam_cues(texts), spam_cues(padded)[: len(texts)])


# -- adversarial texts around each pattern ----------------------------------------------------------------------
DIGIT_RUNS = st.integers(1, 300).map(lambda n: "1" * n) | st.text(alphabet="0123456789", min_size=1, max_size=40)
SEPARATORS = st.sampled_from([" ", "  ", ",", ".", "-", "(", ")", "+", "/", "\n", "\t", ", ", ". ", " - ", "_"])
LOOK_ALIKES = st.sampled_from(["O", "o", "S", "s", "l", "I", "i", "0", "1", "5", "\u212a", "ſ", "K", "k"])
# Each a piece of a pattern or a near miss of one (a match one character short, or one character too long).
TOKENS = st.sampled_from([
    "1,000", "1,00", "1,0000", "1,000,000", "12,345.67", "0.99", "$", "€", "£", "¥", "$5", "5$", "usd", "USD",
    "dollars", "bucks", "k", "K", "5k", "5 k", "kg", "1k", "http://", "https:/", "www.", "ww.", "x.com", "a.co",
    "ab.comx", "ab (dot) net", "ab [dot] ru", "a-", "a dot us", "per", "hour", "a day", "/hr", "each week",
    "whats app", "telegram", "dm", "admin", "pm me", "text me", "call me", "@gmail", "click here", "check out my",
    "link in bio", "contact us", "one", "two", "three", "four", "oh", "seven", "someone", "!", "!!!!", "????",
    "....", "$$$$", "aaaa", "aaa", "c4sh", "4sale", "x1y", "f r e e", "a b c", "😀", "☀", "\u27c0", "é",
])
WORDS = st.sampled_from(["the", "council", "voted", "on", "Tuesday", "budget", "taxes", "I", "think", "a", "is"])
ATOMS = DIGIT_RUNS | SEPARATORS | LOOK_ALIKES | TOKENS | WORDS
SEGMENTS = st.tuples(ATOMS, st.integers(1, 200)).map(lambda atom_times: atom_times[0] * atom_times[1])
HOSTILE_TEXTS = st.lists(SEGMENTS | ATOMS, min_size=1, max_size=12).map(lambda parts: "".join(parts)[:6_000])


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE_TEXTS, min_size=1, max_size=4))
def test_both_cue_paths_agree_on_adversarial_texts(texts: list[str]) -> None:
    for batch in (texts, [normalize_text(text) for text in texts]):
        expected = reference_counts(batch)
        assert_counts_equal(_count_python(batch), expected, batch)
        assert_counts_equal(_count_arrow(batch), expected, batch)


@settings(max_examples=60, deadline=None)
@given(st.lists(HOSTILE_TEXTS, min_size=1, max_size=3))
def test_small_and_large_batches_give_the_same_rows_on_adversarial_texts(texts: list[str]) -> None:
    texts = [normalize_text(text) for text in texts]
    padded = texts + ["filler"] * SMALL_BATCH
    np.testing.assert_array_equal(spam_cues(texts), spam_cues(padded)[: len(texts)])


# Long runs of [0-9,.] with and without a unit after them, a currency sign before them, and what sits at their
# edges: the one place where the small path counts money from its alternatives.
RUNS = st.tuples(
    st.sampled_from(["", "$", "$ ", "x", "5usd", " "]),
    st.lists(st.sampled_from(["1,000", "1", ",", ".", "12", ",000", "9,99"]), min_size=1, max_size=60).map("".join),
    st.sampled_from(["", "k", " k", "$", "usd", " usd", "x", " ", "a", "!", "1k"]),
).map("".join)


RUN_PREFIXES = ["", "$", "$ ", "€", "x", "5usd", "5k", "5 usd ", " ", "a", "1k", ","]
RUN_BODIES = ["1,000" * 20, "1,000." * 20, ".5" * 40, "1" * 80, ",000" * 30, "1,000" * 10 + "." + "1" * 60]
RUN_SUFFIXES = ["", "k", " k", "K", "$", "€", "usd", " usd", "dollars", "x", " ", "a", "!", "1k", "kk", "k!"]


def test_money_counts_at_the_edges_of_long_runs_equal_arrow() -> None:
    """Every way a long run can start and end: a sign or a match just before it, a unit or a word after it."""
    edges = [prefix + body + suffix for prefix in RUN_PREFIXES for body in RUN_BODIES for suffix in RUN_SUFFIXES]
    texts = edges + [a + b for a, b in zip(edges, edges[7:], strict=False)]
    expected = pc.count_substring_regex(pa.array(texts), _PATTERNS["money"][0], ignore_case=True).to_pylist()
    assert [cues._count_money(text.encode(), cues._compiled()) for text in texts] == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(RUNS | WORDS | SEPARATORS, min_size=1, max_size=8).map("".join))
def test_money_counts_around_long_runs_equal_arrow(text: str) -> None:
    data = text.encode()
    expected = pc.count_substring_regex(pa.array([text]), _PATTERNS["money"][0], ignore_case=True)[0].as_py()
    assert cues._count_money(data, cues._compiled()) == expected


# -- the engine: Arrow's count, whatever the pattern ------------------------------------------------------------
ENGINE_PATTERNS = st.sampled_from(["", "a*", r"\b", "x?", "a", "(?:ab)+", r"\bab\b", "[0-9]+", "k", "é|e", r"\s",
                                   ".", "^a", "a$", "[😀-🙏]"])


@settings(max_examples=300, deadline=None)
@given(ENGINE_PATTERNS, st.booleans(),
       st.lists(st.sampled_from(["a", "b", "ab", " ", "x", "é", "K", "0", "😀", "\n"]), max_size=300).map("".join))
def test_count_matches_is_arrows_count(pattern: str, ignore_case: bool, text: str) -> None:
    """Empty matches, matches that end where a \\b then holds, many matches (past PYTHON_MATCHES, where the
    rest goes to Arrow) and multi-byte characters."""
    cue = compile_pattern(pattern, ignore_case=ignore_case)
    expected = pc.count_substring_regex(pa.array([text]), pattern, ignore_case=ignore_case)[0].as_py()
    assert count_matches(cue, text.encode()) == expected


def test_the_public_search_of_google_re2_counts_the_same() -> None:
    """Where google-re2's compiled program is not there to call directly, its public `search` and `match`."""

    class PublicOnly:  # google-re2's pattern object, without the program `compile_pattern` calls directly
        def __init__(self, compiled: object) -> None:
            self.search, self.match = compiled.search, compiled.match  # type: ignore[attr-defined]

    options = re2.Options()
    options.case_sensitive = False
    for name in ("money", "contact_prompt", "spaced_letters"):
        pattern = _PATTERNS[name][0]
        native = compile_pattern(pattern, ignore_case=True)
        public = dataclasses.replace(native, search=_search_of(PublicOnly(re2.compile(pattern.encode(), options))))
        for text in ("@gmaildm 1,000.1,000 $5 a b c d", FAMILIES["1,000. with a unit at the end"](2_000)):
            data = text.encode()
            assert count_matches(public, data) == count_matches(native, data)
            assert match_at(public, data, 9) == match_at(native, data, 9)


def test_count_matches_hands_long_counts_to_arrow_mid_text() -> None:
    cue = compile_pattern(r"\bab", ignore_case=False)
    text = "ab" * (PYTHON_MATCHES + 10) + " ab"
    assert count_matches(cue, text.encode()) == PYTHON_MATCHES + 11  # "abab": after a match, \b holds again


def test_find_stops_at_its_window_and_sees_past_it() -> None:
    cue = compile_pattern(r"\b1,000\b", ignore_case=False)
    assert find(cue, b"x 1,000a 1,000", 0, 7) is None  # "a" follows: no \b at the window's end
    assert find(cue, b"x 1,000! 1,000", 0, 7) == (2, 7)
    assert find(cue, b"a1,000", 1) == (1, 6)  # a search from 1 sees a text that begins there


def test_compile_pattern_refuses_what_re2_cannot_run() -> None:
    with pytest.raises(ValueError, match="RE2 cannot compile the cue pattern"):
        compile_pattern(r"(a)\1", ignore_case=False)
