"""Bodies that may be HTML or plain text: the text the model reads from either."""

from __future__ import annotations

import pytest

from model.markup import body_text, html_to_text


@pytest.mark.parametrize(("body", "text"), [
    ("<p>Taxes &amp; hours</p>", "Taxes & hours"),
    ('<p>Cheap <a href="https://pills.example">pills</a><br/>now</p>', "Cheap pills (https://pills.example)\nnow"),
    ("Taxes went up 3% &mdash; again", "Taxes went up 3% \u2014 again"),
    ("3 < 5 and 7 > 6, so the vote was 5-2", "3 < 5 and 7 > 6, so the vote was 5-2"),
    ("  plain text, nothing to strip  ", "plain text, nothing to strip"),
    ("a <3 for the library", "a <3 for the library"),
])
def test_html_is_read_as_text_and_plain_text_is_left_alone(body: str, text: str) -> None:
    assert body_text(body) == text


def test_html_to_text_of_nothing_is_empty() -> None:
    assert html_to_text(None) == html_to_text("") == ""
