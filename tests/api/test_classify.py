"""POST /classify: the contract, parents, the thread, and agreement with the bundle it serves."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from model.bundle import ModelBundle
from model.labels import ACTIONS, LABELS
from model.types import Article, Comment
from tests.api.conftest import BUDGET, COMMENTS


def classify(client: TestClient, comments: list[dict], article: dict | None = None, **extra: object) -> dict:
    response = client.post("/classify", json={"article": article or BUDGET, "comments": comments, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_one_result_per_comment_in_request_order_with_the_documented_shape(
    client: TestClient, tiny_bundle: ModelBundle
) -> None:
    body = classify(client, COMMENTS)
    assert set(body) == {"model_version", "results"}
    assert body["model_version"] == tiny_bundle.version
    assert [r["id"] for r in body["results"]] == [c["id"] for c in COMMENTS]
    for result in body["results"]:
        assert set(result) == {"id", "label", "scores", "action", "reasons"}
        assert result["label"] in LABELS
        assert result["action"] in ACTIONS
        assert list(result["scores"]) == list(tiny_bundle.labels)
        assert math.isclose(sum(result["scores"].values()), 1.0, abs_tol=1e-5)
        assert result["label"] == max(result["scores"], key=result["scores"].get)
        assert all(isinstance(reason, str) and 0 < len(reason) <= 80 for reason in result["reasons"])
        assert len(result["reasons"]) <= 4


def test_answers_are_exactly_what_the_bundle_computes(client: TestClient, tiny_bundle: ModelBundle) -> None:
    body = classify(client, COMMENTS)
    expected = tiny_bundle.classify(
        Article(**BUDGET), [Comment(c["id"], c["text"], c["parent_id"]) for c in COMMENTS], explain=True
    )
    for got, want in zip(body["results"], expected, strict=True):
        assert got["label"] == want.label
        assert got["action"] == want.action
        assert got["reasons"] == want.reasons
        assert got["scores"] == pytest.approx(want.scores, abs=1e-6)


def test_reasons_explain_spam_and_off_topic_decisions(client: TestClient) -> None:
    results = classify(client, COMMENTS)["results"]
    by_id = {r["id"]: r for r in results}
    assert by_id["c2"]["label"] == "spam"
    assert by_id["c2"]["reasons"], "a spam decision comes with its reasons"
    assert by_id["c4"]["label"] == "off_topic"
    assert any("article" in reason for reason in by_id["c4"]["reasons"])


def test_a_parent_may_be_a_comment_from_an_earlier_request(client: TestClient) -> None:
    classify(client, COMMENTS[:1])
    reply = {"id": "r1", "text": "Agreed.", "parent_id": "c1"}
    results = classify(client, [reply], article=BUDGET)["results"]
    assert results[0]["id"] == "r1"
    assert any("reply" in reason or "parent" in reason for reason in results[0]["reasons"])


def test_comments_sent_with_remember_false_are_not_known_later(client: TestClient) -> None:
    classify(client, COMMENTS[:1], remember=False)
    response = client.post("/classify", json={"article": BUDGET, "comments": [
        {"id": "r1", "text": "Agreed.", "parent_id": "c1"}]})
    assert response.status_code == 422
    assert response.json()["field"] == "comments[0].parent_id"


def test_earlier_comments_become_the_thread(client: TestClient, tiny_bundle: ModelBundle) -> None:
    first = classify(client, COMMENTS[:2])["results"]
    later = classify(client, [{"id": "c9", "text": "Property taxes again, unbelievable.", "parent_id": None}])
    alone = tiny_bundle.classify(Article(**BUDGET), [Comment("c9", "Property taxes again, unbelievable.")])
    # The thread (c1, c2) is part of the features now, so the scores differ from a first comment's.
    assert later["results"][0]["scores"] != pytest.approx(alone[0].scores, abs=1e-6)
    assert first[0]["id"] == "c1"


def test_a_comment_sent_again_gets_the_answer_it_got_the_first_time(client: TestClient) -> None:
    """The thread already holds a remembered comment; sent again (a retry, a re-check), it is compared with the
    other comments of its article, not with a thread that also contains itself."""
    first = classify(client, COMMENTS)["results"]
    again = classify(client, COMMENTS)["results"]
    one_again = classify(client, [COMMENTS[3]])["results"][0]
    for before, after in zip(first, again, strict=True):
        assert after["scores"] == pytest.approx(before["scores"], abs=1e-5), before["id"]
    # Alone it meets c1..c3 (the others), which is what it met as part of the first whole request.
    assert one_again["scores"] == pytest.approx(first[3]["scores"], abs=1e-5)
    # A new comment still meets all four.
    later = classify(client, [{"id": "c9", "text": "Property taxes again, unbelievable.", "parent_id": None}])
    assert later["results"][0]["id"] == "c9"


def test_same_comment_under_another_article_is_judged_against_that_article(
    client: TestClient, tiny_bundle: ModelBundle
) -> None:
    derby = {"id": "derby", "title": "United beat City 2-1 in late derby drama",
             "body": "A stoppage-time header gave United a 2-1 win over City on Saturday."}
    text = "What a header in stoppage time, United deserved the derby win."
    under_budget = classify(client, [{"id": "x", "text": text}], remember=False)["results"][0]
    under_derby = classify(client, [{"id": "x", "text": text}], article=derby, remember=False)["results"][0]
    for got, article in ((under_budget, BUDGET), (under_derby, derby)):
        want = tiny_bundle.classify(Article(**article), [Comment("x", text)])[0]
        assert got["scores"] == pytest.approx(want.scores, abs=1e-6)
    assert under_derby["scores"] != pytest.approx(under_budget["scores"], abs=1e-6)


def test_concurrent_requests_each_get_their_own_answers(client: TestClient) -> None:
    def send(n: int) -> tuple[int, list[str], str]:
        comments = [{"id": f"t{n}-{i}", "text": f"{COMMENTS[i % 4]['text']} ({n})", "parent_id": None}
                    for i in range(1 + n % 3)]
        response = client.post("/classify", json={"article": BUDGET, "comments": comments})
        return response.status_code, [r["id"] for r in response.json()["results"]], str(n)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(40)))
    for status, ids, n in answers:
        assert status == 200
        assert ids == [f"t{n}-{i}" for i in range(1 + int(n) % 3)]
