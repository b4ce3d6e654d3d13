"""Counting a pattern's matches in a text in linear time, exactly as Arrow's `count_substring_regex` counts them.

The spam cues (`model.cues`) are counted by RE2 on both of their paths: Arrow's kernels for large batches, and
this module for the few texts of an API call (the `google-re2` bindings: the same engine, compiled once, where
Arrow compiles its pattern on every call). RE2 searches in time linear in the text for any pattern, so no text
can make one search slow; Python's backtracking `re` took seconds on some 20 KB comments
(`"1,111 " + "1" * 19994`), on the service's event loop.

Arrow counts by `RE2::FindAndConsume` in a loop: after a match, the search starts again on the rest of the
text *as if it were a text of its own*, so a `\\b` just after a match holds ("@gmaildm" holds two contact
prompts for Arrow, one for `re.findall`), and an empty match steps one byte. `count_matches` does the same on a
zero-copy view of the rest of the UTF-8 bytes, in Python for the first `PYTHON_MATCHES` matches and then by one
Arrow call on the rest (a text with thousands of matches would otherwise cost microseconds of Python each).

One search is linear, but a count is a search per match, and a search may read far past the match it returns:
when it finds a match while a preferred alternative is still alive, it reads on until that alternative fails.
For every cue pattern but one that reading is bounded, or lands on text the count consumes next; for money it
is the rest of a long run of digits, re-read after every match in it (see `model.cues.LONG_RUN`), which
`model.cues` avoids with `find`'s windows. The tests in `tests/model/test_hostile_cues.py` check the counts
against Arrow's on texts built to break them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

#: Matches counted in Python before the rest of a text goes to Arrow in one call (which costs about as much
#: as this many matches in Python, most of it compiling the pattern).
PYTHON_MATCHES = 64

#: (anchored, bytes, start, end) -> (match start, match end), or (-1, -1) for none; positions in the bytes.
Search = Callable[[bool, memoryview, int, int], tuple[int, int]]


@dataclass(frozen=True, eq=False)
class CuePattern:
    """A pattern as Arrow is given it (`pattern`, `ignore_case`), compiled once by RE2 (`search`)."""

    pattern: str
    ignore_case: bool
    search: Search


def compile_pattern(pattern: str, *, ignore_case: bool) -> CuePattern:
    """`pattern` compiled with the options Arrow's kernels give RE2 (UTF-8, case folding if asked, no log).

    Raises ValueError naming the pattern if RE2 refuses it (a back-reference, a look-around).
    """
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    try:
        regex = re2.compile(pattern.encode("utf-8"), options)
    except re2.error as error:
        raise ValueError(f"RE2 cannot compile the cue pattern {pattern!r}: {error}") from error
    return CuePattern(pattern, ignore_case, _search_of(regex))


def _search_of(regex: Any) -> Search:
    """RE2's match of `regex` in a buffer, with its view of the whole buffer as context (`\\b` at `end` sees
    the byte after it).

    google-re2's `search` wraps its compiled program's `Match` in a generator and a match object: 1.4 µs of
    the 2.1 µs a search takes, which a text with thousands of matches pays thousands of times. Where the
    program is there (google-re2 1.x), its `Match` is called directly, with the same arguments `search` gives
    it; otherwise `search` and `match` themselves.
    """
    program = getattr(regex, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "ANCHOR_START", None)
    unanchored = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if program is not None and anchor is not None and unanchored is not None:
        native = program.Match

        def search(anchored: bool, data: memoryview, start: int, end: int) -> tuple[int, int]:
            span: tuple[int, int] = native(anchor if anchored else unanchored, data, start, end)[0]
            return span

        return search

    def search_public(anchored: bool, data: memoryview, start: int, end: int) -> tuple[int, int]:
        match = (regex.match if anchored else regex.search)(data, start, end)
        return (-1, -1) if match is None else match.span()

    return search_public


def count_matches(cue: CuePattern, data: bytes, *, start: int = 0) -> int:
    """Matches of `cue` in the UTF-8 bytes `data[start:]`, counted as Arrow's `count_substring_regex` counts
    them in that text."""
    rest = memoryview(data)[start:]
    search = cue.search
    count = 0
    while True:
        end = search(False, rest, 0, len(rest))[1]
        if end < 0:
            return count
        count += 1
        if end == 0:  # an empty match at the start of the rest: Arrow steps one byte (or stops at the end)
            if not len(rest):
                return count
            end = 1
        rest = rest[end:]
        if count == PYTHON_MATCHES:
            return count + _arrow_count(cue, rest)


def find(cue: CuePattern, data: bytes, start: int, end: int | None = None) -> tuple[int, int] | None:
    """Where `cue` first matches in `data[start:]` taken as a text of its own (as a count's search after a
    match at `start` sees it), as positions in `data`; None if it does not.

    With `end`, only matches that end by `end` are looked for, and the search stops reading there; `\\b` at
    `end` still sees the byte after it.
    """
    view = memoryview(data)[start:]
    found, stop = cue.search(False, view, 0, len(view) if end is None else end - start)
    return None if found < 0 else (start + found, start + stop)


def match_at(cue: CuePattern, data: bytes, start: int) -> int | None:
    """Where a match of `cue` that starts at `start` ends (as a count's search from `start` sees it)."""
    view = memoryview(data)[start:]
    found, stop = cue.search(True, view, 0, len(view))
    return None if found < 0 else start + stop


def _arrow_count(cue: CuePattern, rest: memoryview) -> int:
    """Arrow's count of `cue` in `rest` (its bytes as they are: a string array over them, not validated)."""
    offsets = pa.py_buffer(np.array([0, len(rest)], dtype=np.int64))
    array = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(rest)])
    return int(pc.count_substring_regex(array, cue.pattern, ignore_case=cue.ignore_case)[0].as_py())
