"""Text normalisation and spam cues on any unicode: total, idempotent, and the same on both regex engines."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from model.cues import CUE_NAMES, SMALL_BATCH, _count_arrow, _count_python, spam_cues
from model.text import MAX_MODEL_CHARS, normalize_text


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
