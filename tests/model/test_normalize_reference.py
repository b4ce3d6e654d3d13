"""normalize_text skips substitutions that a cheap check shows would change nothing; it must still give exactly
what the plain definition gives (every substitution applied), on any text, including texts built to sit on the
edge of each check (single and double spaces, odd white space, newlines with spaces around them)."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from model.text import MAX_MODEL_CHARS, normalize_text

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def reference(text: str) -> str:
    if not text:
        return ""
    text = text[: MAX_MODEL_CHARS * 2]
    if not text.isascii():
        text = _CONTROL.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    text = text.strip()[:MAX_MODEL_CHARS].strip()
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        return reference(text)
    return text


PIECES = st.sampled_from([" ", "  ", "\t", "\n", " \n ", "\r\n", "\u00a0", "\u3000", "\x0b", "word", "Ünï", "\u200b",
                          "!", "\x07", "ﬁ", "１２"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(PIECES, max_size=40).map("".join)))
def test_normalize_text_equals_its_plain_definition(text: str) -> None:
    assert normalize_text(text) == reference(text)
