"""Hostile comments through HTTP (issue 15, finding 2): texts that froze the service are answered like any other.

Each of these 20,000-character texts (the default limit) took 6-12 s of the event loop when the spam cues ran on
Python's backtracking `re`, and two in one request 20.7 s, with every other client waiting. The cues now run on
RE2: what these tests assert is the answer, the same as the bundle computes; that the work is linear is tested
in tests/model/test_hostile_cues.py (searches counted on texts of 5k, 10k and 20k characters), and what a
request costs is measured by bench/hostile_cost.py against a real server (no clock in the tests).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from model.bundle import ModelBundle
from model.types import Article, Comment
from tests.api.conftest import BUDGET

HOSTILE = {
    "grouped digits, then a long run": "1,111 " + "1" * 19994,
    "seven digits, then look-alike O": "1234567 " + "O" * 19992,
    "a domain, then a-a-a-": "x.com " + "a-" * 9997,
}


def assert_answers_are_the_bundles(body: dict, bundle: ModelBundle, comments: list[dict]) -> None:
    expected = bundle.classify(
        Article(**BUDGET), [Comment(c["id"], c["text"], c["parent_id"]) for c in comments], explain=True
    )
    assert [r["id"] for r in body["results"]] == [c["id"] for c in comments]
    for got, want in zip(body["results"], expected, strict=True):
        assert got["label"] == want.label
        assert got["action"] == want.action
        assert got["reasons"] == want.reasons
        assert got["scores"] == pytest.approx(want.scores, abs=1e-6)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_comment_is_answered(client: TestClient, tiny_bundle: ModelBundle, name: str) -> None:
    text = HOSTILE[name]
    assert len(text) == 20_000
    comments = [{"id": "hostile", "text": text, "parent_id": None}]
    response = client.post("/classify", json={"article": BUDGET, "comments": comments})
    assert response.status_code == 200, response.text
    assert_answers_are_the_bundles(response.json(), tiny_bundle, comments)


def test_two_hostile_comments_in_one_request_and_the_service_answers_the_next(
    client: TestClient, tiny_bundle: ModelBundle
) -> None:
    comments = [{"id": f"h{i}", "text": text, "parent_id": None}
                for i, text in enumerate(list(HOSTILE.values())[:2])]
    response = client.post("/classify", json={"article": BUDGET, "comments": comments})
    assert response.status_code == 200, response.text
    assert_answers_are_the_bundles(response.json(), tiny_bundle, comments)
    assert client.get("/health").status_code == 200
    normal = [{"id": "n1", "text": "Raising property taxes while cutting library hours is backwards.",
               "parent_id": None}]
    response = client.post("/classify", json={"article": BUDGET, "comments": normal})
    assert response.status_code == 200, response.text
