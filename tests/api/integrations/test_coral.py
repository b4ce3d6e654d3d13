"""Coral's external moderation phase and webhooks, through HTTP, with bodies and signatures as Coral makes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET
from tests.api.integrations.conftest import (
    API_KEY,
    CORAL_SECRET,
    OFF_TOPIC_TEXT,
    ON_TOPIC_TEXT,
    SPAM_TEXT,
    STORY_URL,
    WEBHOOK_SECRET,
    Client,
    coral_body,
    coral_headers,
    coral_post,
    coral_sign,
    known_comments,
)

OLD_SECRET = "empsec_" + "0d" * 33


# -- answers ---------------------------------------------------------------------------------------------------
def test_spam_is_rejected_with_the_spam_code_our_reasons_and_a_spam_flag(platform: Client) -> None:
    with platform() as client:
        said = client.post("/classify", json={"article": {"id": BUDGET["id"]}, "remember": False,
                                              "comments": [{"id": "probe", "text": SPAM_TEXT}]}).json()["results"][0]
        answer = coral_post(client, f"<p>{SPAM_TEXT}</p>")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "REJECTED"
        assert body["moderationAction"]["status"] == "REJECTED"
        reason = body["moderationAction"]["rejectionReason"]
        assert reason["code"] == "SPAM"
        assert reason["detailedExplanation"] == "; ".join(said["reasons"]) != ""
        assert body["actions"] == [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}]
        assert known_comments(client) == 1  # remembered under the story's article


def test_an_off_topic_comment_is_rejected_as_irrelevant_content_without_a_flag(platform: Client) -> None:
    with platform() as client:
        body = coral_post(client, OFF_TOPIC_TEXT).json()
        assert body["status"] == "REJECTED"
        assert body["moderationAction"]["rejectionReason"]["code"] == "IRRELEVANT_CONTENT"
        assert "actions" not in body  # Coral's schema has no off-topic flag and drops an answer that breaks it


def test_an_approved_comment_is_no_opinion_unless_the_setting_says_approve(platform: Client, tmp_path: Path) -> None:
    with platform() as client:
        answer = coral_post(client, ON_TOPIC_TEXT)
        assert answer.status_code == 204 and answer.content == b""
    with platform(coral_approve=True, database_path=tmp_path / "approving.sqlite3") as client:
        assert coral_post(client, ON_TOPIC_TEXT).json() == {"status": "APPROVED"}


def test_review_withholds_the_comment_and_queues_its_text_read_from_html(make_client: Client,
                                                                         cautious_model: Path) -> None:
    html = '<p>Is this about the <a href="https://council.example/budget">budget</a>?<br>I think so &amp; more</p>'
    with make_client(model_path=cautious_model, coral_secret=CORAL_SECRET) as client:
        client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        answer = coral_post(client, html)
        assert answer.json()["status"] == "SYSTEM_WITHHELD"
        [item] = client.get("/queue").json()["items"]
        assert item["text"] == "Is this about the budget (https://council.example/budget)?\nI think so & more"
        assert item["article_id"] == BUDGET["id"] and item["comment_id"].startswith("k")
        assert coral_post(client, html).json()["status"] == "SYSTEM_WITHHELD"  # edited again: the same comment
        assert client.get("/queue").json()["pending"] == 1


def test_the_story_is_found_by_its_url_when_its_id_is_not_stored(platform: Client) -> None:
    with platform() as client:
        elsewhere = "HTTPS://News.example/2025/budget-vote?utm_source=newsletter#comments"
        body = coral_post(client, OFF_TOPIC_TEXT, story_id="5fd0c7e3-unknown", story_url=elsewhere).json()
        assert body["moderationAction"]["rejectionReason"]["code"] == "IRRELEVANT_CONTENT"
        assert known_comments(client) == 1


def test_an_unknown_story_is_judged_for_spam_only_and_nothing_is_stored(platform: Client) -> None:
    with platform() as client:
        unknown = {"story_id": "no-such-story", "story_url": "https://news.example/other/"}
        assert coral_post(client, OFF_TOPIC_TEXT, **unknown).status_code == 204  # never off topic without it
        assert coral_post(client, SPAM_TEXT, **unknown).json()["moderationAction"]["rejectionReason"]["code"] == "SPAM"
        assert known_comments(client) == 0
        assert client.get("/queue").json()["pending"] == 0


def test_a_reply_to_a_comment_we_never_saw_is_judged_as_a_top_level_comment(platform: Client) -> None:
    with platform() as client:
        answer = coral_post(client, SPAM_TEXT, parent_id="d79b787f-f406-49a0-a179-72e3652e54be")
        assert answer.json()["status"] == "REJECTED"


def test_a_reply_to_a_known_comment_is_judged_with_its_parent(make_client: Client, cautious_model: Path) -> None:
    with make_client(model_path=cautious_model, coral_secret=CORAL_SECRET) as client:
        client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        client.post("/classify", json={"article": {"id": BUDGET["id"]},
                                       "comments": [{"id": "coral-parent", "text": ON_TOPIC_TEXT}]})
        reply = "Exactly, the council ignored the pension costs."
        assert coral_post(client, reply, parent_id="coral-parent").json()["status"] == "SYSTEM_WITHHELD"
        assert coral_post(client, SPAM_TEXT, parent_id="never-seen").json()["status"] == "SYSTEM_WITHHELD"
        items = {item["text"]: item for item in client.get("/queue?limit=100").json()["items"]}
        assert items[reply]["parent_id"] == "coral-parent"
        assert items[reply]["parent_text"] == ON_TOPIC_TEXT
        assert items[SPAM_TEXT]["parent_id"] is None


def test_shadow_mode_answers_no_opinion_and_stores_what_it_would_have_decided(make_client: Client,
                                                                               cautious_model: Path) -> None:
    with make_client(model_path=cautious_model, coral_secret=CORAL_SECRET, shadow=True) as client:
        client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        assert coral_post(client, SPAM_TEXT).status_code == 204
        [item] = client.get("/queue").json()["items"]
        assert item["action"] == "review" and item["text"] == SPAM_TEXT


# -- signatures ------------------------------------------------------------------------------------------------
def test_a_rotated_secret_signs_twice_and_either_signature_is_enough(platform: Client) -> None:
    body = coral_body(SPAM_TEXT)
    for order in ((OLD_SECRET, CORAL_SECRET), (CORAL_SECRET, OLD_SECRET)):
        with platform() as client:
            answer = client.post("/integrations/coral", content=body, headers=coral_headers(body, *order))
            assert answer.status_code == 200, answer.text
    with platform(coral_secret=OLD_SECRET) as client:  # the site still holds the old one: also fine
        headers = coral_headers(body, CORAL_SECRET, OLD_SECRET)
        assert client.post("/integrations/coral", content=body, headers=headers).status_code == 200


@pytest.mark.parametrize("signature", [
    None,
    "",
    "sha256=",
    "sha256=" + "0" * 64,
    "sha1=" + "0" * 40,
    "t=1,v1=abc",
    b"sha256=zz\xc3\xa9",
])
def test_a_missing_or_wrong_signature_is_a_401_and_nothing_is_classified(platform: Client,
                                                                         signature: str | bytes | None) -> None:
    body = coral_body(SPAM_TEXT)
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Coral-Signature"] = signature
    with platform() as client:
        answer = client.post("/integrations/coral", content=body.decode(), headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["field"] == "X-Coral-Signature"
        assert "MODERATE_CORAL_SECRET" in answer.json()["detail"]
        assert known_comments(client) == 0
        assert 'platform="coral"' not in client.get("/metrics").text


def test_a_replayed_body_with_one_byte_changed_is_refused(platform: Client) -> None:
    body = coral_body(ON_TOPIC_TEXT)
    headers = coral_headers(body)
    tampered = body.replace(b"Raising", b"Raiding")
    assert len(tampered) == len(body) and tampered != body
    with platform() as client:
        assert client.post("/integrations/coral", content=body, headers=headers).status_code == 204
        assert client.post("/integrations/coral", content=tampered, headers=headers).status_code == 401
        assert client.post("/integrations/coral", content=body + b" ", headers=headers).status_code == 401


def test_the_webhook_secret_does_not_sign_the_phase_nor_the_phase_secret_the_webhook(platform: Client) -> None:
    body = coral_body(SPAM_TEXT)
    event = json.dumps({"id": "e1", "type": "STORY_CREATED", "data": {"storyID": "x"}}).encode()
    with platform() as client:
        assert client.post("/integrations/coral", content=body,
                           headers=coral_headers(body, WEBHOOK_SECRET)).status_code == 401
        assert client.post("/integrations/coral/webhook", content=event,
                           headers=coral_headers(event, CORAL_SECRET)).status_code == 401
        assert client.post("/integrations/coral/webhook", content=event,
                           headers=coral_headers(event, WEBHOOK_SECRET)).status_code == 200


def test_without_a_secret_a_keyed_service_refuses_and_an_open_one_checks_nothing(platform: Client) -> None:
    body = coral_body(SPAM_TEXT)
    with platform(coral_secret=None, api_key=API_KEY) as client:
        answer = client.post("/integrations/coral", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 401 and "not configured" in answer.json()["detail"]
    with platform(coral_secret=None) as client:
        answer = client.post("/integrations/coral", content=body, headers={"Content-Type": "application/json"})
        assert answer.json()["status"] == "REJECTED"


def test_the_api_key_is_not_needed_a_signature_is(platform: Client) -> None:
    with platform(api_key=API_KEY) as client:
        assert coral_post(client, SPAM_TEXT).status_code == 200


# -- bad input, signed ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 400, "body"),
    (b"\xff\xfe{}", 400, "body"),
    (b"[]", 422, "body"),
    (b"{}" + b" " * 9000 + b"\n", 422, "comment"),
    (b"{}", 422, "comment"),
    (json.dumps({"comment": {"parentID": None}, "story": {"id": "s"}}).encode(), 422, "comment.body"),
    (json.dumps({"comment": {"body": ""}, "story": {"id": "s"}}).encode(), 422, "comment.body"),
    (json.dumps({"comment": {"body": 7}, "story": {"id": "s"}}).encode(), 422, "comment.body"),
    (json.dumps({"comment": {"body": "x" * 20_001}, "story": {"id": "s"}}).encode(), 422, "comment.body"),
    (json.dumps({"comment": {"body": "<p> </p>"}, "story": {"id": "s"}}).encode(), 422, "comments[0].text"),
])
def test_a_signed_body_that_is_not_a_moderation_request_is_a_4xx_naming_the_field(
        platform: Client, body: bytes, status: int, field: str) -> None:
    with platform() as client:
        answer = client.post("/integrations/coral", content=body, headers=coral_headers(body))
        assert answer.status_code == status, answer.text
        assert answer.json()["field"] == field


# -- webhooks --------------------------------------------------------------------------------------------------
def event(kind: str, comment_id: str, status: str, story_id: str = BUDGET["id"]) -> bytes:
    """A webhook delivery as docs/docs/webhooks.md describes it."""
    return json.dumps({
        "id": "0f1e2d3c", "type": kind, "tenantID": "19ba5794", "tenantDomain": "news.example",
        "createdAt": "2026-12-03T10:00:00.000Z",
        "data": {"queue": "PENDING", "commentID": comment_id, "status": status, "storyID": story_id,
                 "siteID": "a4bede88"},
    }).encode()


def deliver(client: TestClient, body: bytes) -> str:
    signed = {"Content-Type": "application/json", "X-Coral-Signature": coral_sign(body, WEBHOOK_SECRET)}
    answer = client.post("/integrations/coral/webhook", content=body, headers=signed)
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] is True
    return str(answer.json()["outcome"])


def test_a_moderators_decision_on_a_comment_classified_under_its_coral_id_is_stored(platform: Client) -> None:
    with platform() as client:
        client.post("/classify", json={"article": {"id": BUDGET["id"]}, "comments": [
            {"id": "coral-1", "text": ON_TOPIC_TEXT}, {"id": "coral-2", "text": SPAM_TEXT}]})
        assert deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "coral-1", "REJECTED")) == "unmatched"
        assert deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "coral-2", "REJECTED")) == "decision stored"
        assert deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "coral-1", "APPROVED")) == "decision stored"
        stats = client.get("/stats").json()
        assert stats["decisions"] == 2
        assert stats["actions"]["reject"] == {"decided": 1, "overturned": 0, "rate": 0.0}
        assert 'moderate_decisions_total{label="spam",source="coral"} 1.0' in client.get("/metrics").text


def test_events_that_cannot_be_matched_are_answered_counted_and_not_stored(platform: Client) -> None:
    with platform() as client:
        coral_post(client, SPAM_TEXT)  # classified by the phase: stored under its text's key, not Coral's id
        outcomes = [deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "5fd0c7e3", "REJECTED")),
                    deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "5fd0c7e3", "APPROVED", "other-story")),
                    deliver(client, event("COMMENT_ENTERED_MODERATION_QUEUE", "5fd0c7e3", "SYSTEM_WITHHELD")),
                    deliver(client, event("COMMENT_LEFT_MODERATION_QUEUE", "5fd0c7e3", "PREMOD")),
                    deliver(client, event("COMMENT_CREATED", "5fd0c7e3", "NONE")),
                    deliver(client, event("SOMETHING_NEW", "5fd0c7e3", "NONE"))]
        assert outcomes == ["unmatched", "unmatched", "not a decision", "not a decision", "not a decision",
                            "not a decision"]
        assert client.get("/stats").json()["decisions"] == 0
        metrics = client.get("/metrics").text
        assert ('moderate_integration_events_total{event="COMMENT_LEFT_MODERATION_QUEUE",outcome="unmatched",'
                'platform="coral"} 2.0') in metrics
        assert 'event="other",outcome="not a decision",platform="coral"} 1.0' in metrics


@pytest.mark.parametrize("body", [b"{}", b'{"type": ""}', b'{"type": "X", "data": []}', b"nope"])
def test_a_signed_webhook_body_that_is_not_an_event_is_a_4xx(platform: Client, body: bytes) -> None:
    with platform() as client:
        answer = client.post("/integrations/coral/webhook", content=body,
                             headers={"Content-Type": "application/json",
                                      "X-Coral-Signature": coral_sign(body, WEBHOOK_SECRET)})
        assert answer.status_code in (400, 422), answer.text
        assert answer.json()["field"]


def test_the_story_url_stored_with_the_article_is_returned(platform: Client) -> None:
    with platform() as client:
        assert client.get(f"/articles/{BUDGET['id']}").json()["url"] == STORY_URL
