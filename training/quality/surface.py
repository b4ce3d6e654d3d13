"""Surface statistics of each label: how comments look, our corpus beside the real sets.

A model learns whatever separates the labels of its training data. If "!" marks spam in our corpus and not on
real sites, the model learns "!" (issue 11: 46% of our first corpus's spam had one, against 1-2% of its other
comments). This table shows, per data set and label, the share of comments with each surface trait, and for
each trait how sharply it separates spam from the rest (the ratio of the two shares): a trait that separates
our labels much more sharply than a real set's is a style the model can learn instead of the content.

Misspellings are words of three or more letters that `wordfreq` hardly knows (Zipf frequency below 2: less
than once in ten million words; names count too), in English, or in the set's own language where it is
another (One Million Posts is German). Without `wordfreq` installed the column is left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from model.labels import SPAM
from training.data import LabeledData
from training.quality.results import ProtocolResult

_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]")
_LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]{2,}\.(?:com|net|org|info|io|co|ly|me|xyz|shop|site)\b", re.I)
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?(?:\$|€|£|usd|dollars|bucks)\b", re.I)
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_WORD = re.compile(r"[^\W\d_]{3,}")
_PRAISE = re.compile(
    r"^\W*(?:(?:great|nice|good|awesome|excellent|amazing|interesting|informative|useful|helpful|wonderful|"
    r"lovely|cool|brilliant|fantastic)\s*(?:article|post|read|piece|video|work|job|info|story|stuff|one)?|"
    r"thanks?(?: you)?(?: for (?:sharing|this|the (?:article|post|info)))?|thank u|love (?:this|it)|"
    r"very (?:informative|interesting|useful|helpful|nice|good)(?: (?:article|post))?|"
    r"(?:this is )?(?:so |very |really )?(?:true|interesting|useful|helpful)|well said|"
    r"[ ,.!]|and)+\W*$",
    re.I,
)

TRAITS: dict[str, Callable[[str], bool]] = {
    '"!"': lambda t: "!" in t,
    "ellipsis": lambda t: "..." in t or "…" in t,
    "all-caps word": lambda t: _CAPS_WORD.search(t) is not None,
    "emoji": lambda t: _EMOJI.search(t) is not None,
    "link": lambda t: _LINK.search(t) is not None,
    "digit": lambda t: any(c.isdigit() for c in t),
    "money amount": lambda t: _MONEY.search(t) is not None,
    "under 60 characters": lambda t: len(t) < 60,
    "praise only": lambda t: _PRAISE.match(t) is not None,
}


def surface_statistics(sets: dict[str, LabeledData], *, languages: dict[str, str] | None = None) -> ProtocolResult:
    """Per set and label: comment count, mean length, and the share of comments with each trait."""
    languages = languages or {}
    known_word = _known_word_test()
    rows: list[dict[str, Any]] = []
    for name, data in sets.items():
        comments = data.comments
        for label in sorted(comments["label"].unique()):
            texts = comments.loc[comments["label"] == label, "text"].astype(str).tolist()
            row: dict[str, Any] = {"set": name, "label": label, "comments": len(texts),
                                   "mean length": round(float(np.mean([len(t) for t in texts])))}
            for trait, test in TRAITS.items():
                row[trait] = round(float(np.mean([test(t) for t in texts])), 3)
            if known_word is not None:
                row["misspelled words"] = _misspelled_share(texts, known_word, languages.get(name, "en"))
            rows.append(row)
    return ProtocolResult(
        key="surface", title="Surface statistics: our corpus beside the real sets",
        setup=("Share of each label's comments with each trait (module docstring of training/quality/surface.py "
               "defines them). 'spam / rest' is the ratio of a trait's share among spam to its share among the "
               "other comments: far from 1 means the trait alone separates spam in that set."),
        figures=[], details={"rows": rows, "separation": separation(rows)},
    )


def separation(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each set that has spam and other labels: per trait, share among spam / share among the rest."""
    out = []
    for name in dict.fromkeys(row["set"] for row in rows):
        spam = [r for r in rows if r["set"] == name and r["label"] == SPAM]
        rest = [r for r in rows if r["set"] == name and r["label"] != SPAM]
        if not spam or not rest:
            continue
        ratios: dict[str, Any] = {"set": name}
        total = sum(r["comments"] for r in rest)
        for trait in [*TRAITS, "misspelled words"]:
            if trait not in spam[0]:
                continue
            rest_share = sum(r[trait] * r["comments"] for r in rest) / max(total, 1)
            ratios[trait] = round(spam[0][trait] / rest_share, 2) if rest_share > 0 else None
        out.append(ratios)
    return out


def _known_word_test() -> Callable[[str, str], bool] | None:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # an optional measurement: the table says "not measured" without it
        return None
    return lambda word, language: zipf_frequency(word, language) >= 2.0


def _misspelled_share(texts: list[str], known: Callable[[str, str], bool], language: str) -> float:
    words = [w.lower() for t in texts for w in _WORD.findall(t)]
    if not words:
        return 0.0
    distinct = set(words)
    unknown = {w for w in distinct if not known(w, language)}
    return round(sum(w in unknown for w in words) / len(words), 4)
