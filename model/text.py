"""Text normalisation shared by training, serving and scoring, so a comment means the same thing everywhere.

Spam hides behind look-alike characters ("𝗰𝗮𝘀𝗵", fullwidth digits, zero-width joiners); NFKC folds most of them
back to plain letters, so the word features see the word and the cues can still see that it was disguised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Zero-width and bidi control characters: invisible, used to split words past keyword filters.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
# C0/C1 controls other than tab and newline, and lone surrogates that cannot be encoded.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# What _SPACES would change: a space that is not a plain " ", or two in a row. Most comments have neither, and
# searching is cheaper than substituting every single space by itself (the service normalises every comment).
_SPACES_TO_FOLD = re.compile(r"[\t\r\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]|  ")
_NEWLINES = re.compile(r"\s*\n\s*")

#: Longest text the model reads; longer comments are cut here (the API and loaders set their own limits).
MAX_MODEL_CHARS = 20_000


def normalize_text(text: str) -> str:
    """NFKC-fold, drop invisible and control characters, collapse runs of white space, cut to MAX_MODEL_CHARS.

    Total: any Python string gives a string, and normalising twice gives the same result as once.
    """
    if not text:
        return ""
    text = text[: MAX_MODEL_CHARS * 2]
    if not text.isascii():
        text = _CONTROL.sub("", text)  # before NFKC: lone surrogates make normalize() raise
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    if _SPACES_TO_FOLD.search(text):
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    text = text.strip()[:MAX_MODEL_CHARS].strip()
    # NFKC can create new combinations after cutting; a second pass makes the function idempotent.
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        return normalize_text(text)
    return text


def normalize_texts(texts: Iterable[object]) -> list[str]:
    """normalize_text over many values; missing values (None, NaN) become empty strings."""
    return [normalize_text(t) if isinstance(t, str) else "" for t in texts]
