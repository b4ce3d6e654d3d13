"""Everyday comments that once broke the service (issue 15): each is answered, and the connection stays usable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET, COMMENTS

#: Replies with no word of two or more letters: they hash to no term at all.
TERMLESS_REPLIES = ["👍", "!!!", "+1", "?", "a", "😂😂", "...", "1"]


@pytest.mark.parametrize("text", TERMLESS_REPLIES)
def test_a_reply_without_any_word_under_an_article_with_a_thread_is_classified(client: TestClient, text: str) -> None:
    stored = client.post("/classify", json={"article": BUDGET, "comments": COMMENTS, "remember": True})
    assert stored.status_code == 200, stored.text
    for round_ in range(2):  # a second request on the same client: nothing was left broken by the first
        reply = {"id": f"r{round_}-{len(text)}", "text": text, "parent_id": "c1"}
        response = client.post("/classify", json={"article": BUDGET, "comments": [reply]})
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-5)


def test_termless_comments_in_one_request_with_their_thread(client: TestClient) -> None:
    comments = [*COMMENTS, *({"id": f"t{i}", "text": t, "parent_id": "c1"} for i, t in enumerate(TERMLESS_REPLIES))]
    response = client.post("/classify", json={"article": BUDGET, "comments": comments})
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["results"]] == [c["id"] for c in comments]
