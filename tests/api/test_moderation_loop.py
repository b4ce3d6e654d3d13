"""The moderation loop over HTTP: decisions (/feedback), the review queue (/queue) and agreement (/stats)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model.actions import Thresholds
from model.bundle import ModelBundle
from tests.api.conftest import BUDGET, COMMENTS

Client = Callable[..., AbstractContextManager[TestClient]]


def decide(client: TestClient, *decisions: dict[str, Any]) -> Any:
    return client.post("/feedback", json={"decisions": list(decisions)})


@pytest.fixture
def decisive_model(model_dir: Path) -> Path:
    """The tiny bundle with thresholds that approve and reject: its answers to COMMENTS are approve (c1, c3)
    and reject (c2 as spam, c4 as off topic), which the stats test relies on and checks first."""
    bundle = ModelBundle.load(model_dir)
    bundle = dataclasses.replace(bundle, thresholds=Thresholds(reject={"spam": 0.5, "off_topic": 0.5}, approve=0.5))
    return bundle.save(model_dir.parent / "decisive")


# -- /feedback ------------------------------------------------------------------------------------------------
def test_a_decision_about_a_classified_comment_needs_only_its_id_and_label(client: TestClient) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    answer = decide(client, {"comment_id": "c2", "label": "spam", "moderator": "ana"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 1}
    assert "c2" not in [item["comment_id"] for item in client.get("/queue").json()["items"]]


@pytest.mark.parametrize(("decision", "status", "field", "words"), [
    ({"comment_id": "c1", "label": "toxic"}, 422, "decisions[0].label", "unknown label 'toxic'"),
    ({"comment_id": "never", "label": "spam"}, 422, "decisions[0].text", "never classified"),
    ({"comment_id": "never", "label": "spam", "text": "buy now"}, 422, "decisions[0].article_id", "article_id"),
    ({"comment_id": "never", "label": "spam", "text": "buy now", "article_id": "no-such-story"}, 404,
     "decisions[0].article_id", "unknown article"),
    ({"comment_id": "c1"}, 422, "decisions[0].label", "missing"),
    ({"label": "spam"}, 422, "decisions[0].comment_id", "missing"),
    ({"comment_id": "c1", "label": 3}, 422, "decisions[0].label", "string"),
    ({"comment_id": "c1\u202e", "label": "spam"}, 422, "decisions[0].comment_id", "U+202E"),
    ({"comment_id": "c9", "label": "spam", "text": "", "article_id": BUDGET["id"]}, 422, "decisions[0].text", ""),
])
def test_a_decision_that_cannot_be_stored_is_a_4xx_naming_its_field(
        client: TestClient, decision: dict[str, Any], status: int, field: str, words: str) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    answer = decide(client, decision)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert words in answer.json()["detail"]


def test_feedback_stores_all_decisions_or_none(client: TestClient) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    answer = decide(client, {"comment_id": "c1", "label": "on_topic"}, {"comment_id": "c2", "label": "spam!"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "decisions[1].label"
    assert client.get("/stats").json()["decisions"] == 0
    assert client.get("/queue").json()["pending"] == 4


def test_feedback_has_the_limits_of_classify(make_client: Client) -> None:
    with make_client(max_comments=2, max_comment_chars=10) as client:
        client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        many = [{"comment_id": f"x{i}", "label": "spam", "text": "buy", "article_id": BUDGET["id"]} for i in range(3)]
        assert decide(client, *many).json()["field"] == "decisions"
        long = decide(client, {"comment_id": "x", "label": "spam", "text": "a" * 11, "article_id": BUDGET["id"]})
        assert (long.status_code, long.json()["field"]) == (422, "decisions[0].text")
        assert client.post("/feedback", json={"decisions": []}).status_code == 422
        assert client.post("/feedback", content=b"\xff", headers={"content-type": "application/json"}).status_code \
            == 400


def test_a_comment_id_under_two_articles_needs_its_article(client: TestClient) -> None:
    other = {"id": "derby", "title": "Derby ends level", "body": "A late header saved a point."}
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:1]})
    client.post("/classify", json={"article": other, "comments": COMMENTS[:1]})
    assert decide(client, {"comment_id": "c1", "label": "spam"}).json()["field"] == "decisions[0].article_id"
    assert decide(client, {"comment_id": "c1", "label": "spam", "article_id": "derby"}).json() == {"stored": 1}
    remaining = [(i["article_id"], i["comment_id"]) for i in client.get("/queue").json()["items"]]
    assert remaining == [(BUDGET["id"], "c1")]


def test_a_never_classified_comment_is_stored_with_its_text(client: TestClient) -> None:
    client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
    answer = decide(client, {"comment_id": "mail-1", "label": "spam", "article_id": BUDGET["id"],
                             "text": "cheap pills here"})
    assert answer.json() == {"stored": 1}
    stats = client.get("/stats").json()
    assert stats["decisions"] == 1
    assert stats["actions"]["unclassified"] == {"decided": 1}


def test_the_latest_decision_counts_and_decisions_are_counted_in_metrics(
        make_client: Client, decisive_model: Path) -> None:
    with make_client(model_path=decisive_model) as client:
        client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
        decide(client, {"comment_id": "c1", "label": "spam"})
        decide(client, {"comment_id": "c1", "label": "on_topic"})
        stats = client.get("/stats").json()
        assert stats["decisions"] == 1
        assert stats["actions"]["approve"] == {"decided": 1, "overturned": 0, "rate": 0.0}
        metrics = client.get("/metrics").text
        assert 'moderate_decisions_total{label="spam",source="feedback"} 1.0' in metrics
        assert 'moderate_decisions_overturned_total{action="approve"} 1.0' in metrics


# -- /queue ----------------------------------------------------------------------------------------------------
def test_the_queue_lists_review_comments_most_uncertain_first_with_their_context(client: TestClient) -> None:
    answer = client.post("/classify", json={"article": BUDGET, "comments": COMMENTS}).json()
    margins = {}
    for result in answer["results"]:
        top, second = sorted(result["scores"].values(), reverse=True)[:2]
        margins[result["id"]] = top - second
    assert {r["action"] for r in answer["results"]} == {"review"}  # the tiny model sends all four to review
    page = client.get("/queue").json()
    assert [item["comment_id"] for item in page["items"]] == sorted(margins, key=margins.__getitem__)
    reply = next(item for item in page["items"] if item["comment_id"] == "c3")
    assert reply["parent_text"] == COMMENTS[0]["text"]
    assert reply["article_title"] == BUDGET["title"]
    assert reply["classified_at"].endswith("Z")
    spam = next(item for item in page["items"] if item["comment_id"] == "c2")
    # Terms are the model's n-grams: their words are in the text (a one-letter word between them is not a term).
    assert spam["terms"] and all(word in spam["text"].lower() for term in spam["terms"] for word in term.split())


def test_the_queue_pages_by_cursor_without_repeating_or_skipping(client: TestClient) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    everything = [item["comment_id"] for item in client.get("/queue").json()["items"]]
    seen, cursor = [], None
    first = True
    while first or cursor is not None:
        page = client.get("/queue", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        if first:  # a decision between two pages must not shift what the next page holds
            decide(client, {"comment_id": everything[-1], "label": "on_topic"})
            first = False
        seen += [item["comment_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == everything[:-1]


def test_the_queue_filters_by_article_and_refuses_bad_parameters(client: TestClient) -> None:
    other = {"id": "derby", "title": "Derby ends level", "body": "A late header saved a point."}
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    client.post("/classify", json={"article": other, "comments": COMMENTS[3:]})
    page = client.get("/queue", params={"article_id": "derby"}).json()
    assert [(i["article_id"], i["comment_id"]) for i in page["items"]] == [("derby", "c4")]
    assert page["pending"] == 1
    assert client.get("/queue").json()["pending"] == 5
    for params, field in (({"cursor": "not-ours"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                          ({"article_id": ""}, "article_id")):
        answer = client.get("/queue", params=params)
        assert (answer.status_code, answer.json()["field"]) == (422, field), params


def test_a_comment_classified_without_remember_is_not_queued(client: TestClient) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS, "remember": False})
    assert client.get("/queue").json() == {"items": [], "next_cursor": None, "pending": 0}


def test_deleting_a_comment_forgets_its_classification_and_decisions(client: TestClient) -> None:
    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    decide(client, {"comment_id": "c2", "label": "spam"})
    assert client.delete("/comments/c2", params={"article_id": BUDGET["id"]}).status_code == 204
    assert client.delete("/comments/c1", params={"article_id": BUDGET["id"]}).status_code == 204
    assert client.get("/stats").json()["decisions"] == 0
    assert "c1" not in [i["comment_id"] for i in client.get("/queue").json()["items"]]


# -- /stats ----------------------------------------------------------------------------------------------------
def test_stats_count_overturned_approves_and_rejects(make_client: Client, decisive_model: Path) -> None:
    with make_client(model_path=decisive_model) as client:
        results = client.post("/classify", json={"article": BUDGET, "comments": COMMENTS}).json()["results"]
        assert [r["action"] for r in results] == ["approve", "reject", "approve", "reject"]
        decide(client, {"comment_id": "c1", "label": "on_topic"}, {"comment_id": "c3", "label": "spam"},
               {"comment_id": "c2", "label": "off_topic"}, {"comment_id": "c4", "label": "on_topic"})
        stats = client.get("/stats").json()
    assert stats["decisions"] == 4
    assert stats["actions"]["approve"] == {"decided": 2, "overturned": 1, "rate": 0.5}
    assert stats["actions"]["reject"] == {"decided": 2, "overturned": 1, "rate": 0.5}  # spam->off_topic is right
    assert stats["precision"] == {"approve": 0.5, "reject": 0.5}
    assert len(stats["per_day"]) == 1
    assert stats["per_day"][0]["decisions"] == 4
    assert stats["queue"] == 0


def test_stats_refuse_a_bad_window(client: TestClient) -> None:
    assert client.get("/stats", params={"days": 0}).status_code == 422
    assert client.get("/stats", params={"days": "week"}).json()["field"] == "days"


def test_the_loop_needs_the_api_key(make_client: Client) -> None:
    with make_client(api_key="s3cret") as client:
        assert client.get("/queue").status_code == 401
        assert client.get("/stats", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/queue", headers={"Cookie": "theme=dark; moderator_key=s3cret"}).status_code == 200
        assert client.get("/queue", headers={"Cookie": "moderator_key=wrong"}).status_code == 401


def test_decisions_under_an_inline_article_keep_its_text_for_retraining(client: TestClient, tmp_path: Path) -> None:
    from api.decisions import read_site_decisions

    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})  # inline, not stored for /classify
    assert client.get(f"/articles/{BUDGET['id']}").status_code == 404
    decide(client, {"comment_id": "c1", "label": "on_topic"}, {"comment_id": "c3", "label": "on_topic"},
           {"comment_id": "c2", "label": "spam"})
    site = read_site_decisions(tmp_path / "moderator.sqlite3")
    assert site.without_article == 0
    assert site.articles.to_dict("records") == [{"article_id": BUDGET["id"], "title": BUDGET["title"],
                                                 "body": BUDGET["body"]}]
    assert list(site.comments["comment_id"]) == ["c1", "c3", "c2"]
    assert list(site.comments["parent_id"]) == ["", "c1", ""]
    assert list(site.comments["label"]) == ["on_topic", "on_topic", "spam"]


def test_deleting_an_article_forgets_its_decisions_and_snapshot(client: TestClient, tmp_path: Path) -> None:
    from api.decisions import read_site_decisions

    client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})
    decide(client, {"comment_id": "c2", "label": "spam"})
    assert client.delete(f"/articles/{BUDGET['id']}").status_code == 204
    site = read_site_decisions(tmp_path / "moderator.sqlite3")
    assert (len(site.comments), len(site.articles)) == (0, 0)
    assert client.get("/queue").json()["pending"] == 0
    unknown = decide(client, {"comment_id": "c9", "label": "spam", "text": "pills", "article_id": BUDGET["id"]})
    assert unknown.status_code == 404
