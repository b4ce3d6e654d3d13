"""The Perspective-compatible routes: a real client from the package index (`perspective`, over a real socket),
bodies as Coral's perspective.ts builds them, and Google's error shape for everything refused."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from perspective import PerspectiveAPI

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import BUDGET
from tests.api.integrations.conftest import (
    API_KEY,
    OFF_TOPIC_TEXT,
    ON_TOPIC_TEXT,
    SPAM_TEXT,
    STORY_URL,
    Client,
    coral_post,
    known_comments,
)
from tests.reliability.conftest import free_port

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


def coral_analyze(text: str, model: str = "SPAM") -> dict[str, Any]:
    """The analyze body of Coral's toxicity phase (formatBody in perspective.ts), with its model set to ours."""
    return {"comment": {"text": text}, "doNotStore": True, "requestedAttributes": {model: {}}, "languages": ["en"]}


def coral_suggest(text: str, comment_id: str, *, approved: bool, model: str = "SPAM") -> dict[str, Any]:
    """The suggestscore body Coral sends when a moderator approves (0) or rejects (1) a comment."""
    return {
        "comment": {"text": text},
        "context": {"entries": [{"text": json.dumps({
            "url": f"{STORY_URL}?commentID={comment_id}", "Coral_comment_id": comment_id})}]},
        "attributeScores": {model: {"summaryScore": {"value": 0 if approved else 1}}},
        "languages": ["en"],
        "communityId": "Coral:https://news.example",
        "clientToken": f"comment:{comment_id}",
    }


def error_of(answer: Any, code: int) -> str:
    assert answer.status_code == code, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and set(error) == {"code", "message", "status"}
    return str(error["status"])


# -- a real client ---------------------------------------------------------------------------------------------
@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread of this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_perspective_package_scores_and_sends_feedback_here(make_settings: Any, decisive_model: Path) -> None:
    key = {"X-API-Key": API_KEY}
    with serving(make_settings(model_path=decisive_model, api_key=API_KEY)) as base:
        httpx.put(f"{base}/articles/{BUDGET['id']}", headers=key,
                  json={"title": BUDGET["title"], "body": BUDGET["body"], "url": STORY_URL}).raise_for_status()
        client = PerspectiveAPI(API_KEY)
        client.api_client.url = base + "/v1alpha1/{endpoint}"  # where a Perspective client is pointed
        spam = client.analyze_comment(SPAM_TEXT, requested_attributes={"SPAM": {}}, languages=["en"],
                                      do_not_store=True, client_token="t-1")
        assert spam["attributeScores"]["SPAM"]["summaryScore"]["value"] > 0.5
        assert spam["languages"] == ["en"] and spam["clientToken"] == "t-1"
        context = [{"text": BUDGET["title"]}, {"text": BUDGET["body"]}]
        off = client.analyze_comment(OFF_TOPIC_TEXT, requested_attributes={"OFF_TOPIC": {}, "ON_TOPIC": {}},
                                     context=context, span_annotations=True)
        scores = off["attributeScores"]
        assert scores["OFF_TOPIC"]["summaryScore"]["value"] > scores["ON_TOPIC"]["summaryScore"]["value"]
        assert [(s["begin"], s["end"]) for s in scores["OFF_TOPIC"]["spanScores"]] == [(0, len(OFF_TOPIC_TEXT))]
        assert client.suggest_score(OFF_TOPIC_TEXT, {"OFF_TOPIC": {"summaryScore": {"value": 1.0}}},
                                    context=context, client_token="t-2") == {"clientToken": "t-2"}
        stats = httpx.get(f"{base}/stats", headers=key).json()
        assert stats["decisions"] == 1  # the suggestion, about the comment the analyze with context stored
        assert stats["actions"]["reject"]["decided"] == 1  # the model had rejected it as off topic too
        wrong = PerspectiveAPI("wrong-key")
        wrong.api_client.url = client.api_client.url
        with pytest.raises(urllib.error.HTTPError) as refused:
            wrong.analyze_comment(SPAM_TEXT, requested_attributes={"SPAM": {}})
        assert refused.value.code == 400
        assert json.loads(refused.value.read())["error"]["status"] == "INVALID_ARGUMENT"


# -- Coral's Perspective client --------------------------------------------------------------------------------
def test_coral_toxicity_phase_pointed_here_with_model_spam(platform: Client) -> None:
    with platform() as client:
        answer = client.post(ANALYZE, json=coral_analyze(SPAM_TEXT))
        assert answer.status_code == 200, answer.text
        assert answer.json()["attributeScores"]["SPAM"]["summaryScore"]["value"] > 0.8  # Coral's default threshold
        assert client.post(ANALYZE, json=coral_analyze(ON_TOPIC_TEXT)).json()["attributeScores"]["SPAM"][
            "summaryScore"]["value"] < 0.5
        assert known_comments(client) == 0  # doNotStore, and no article in Coral's analyze anyway
        error_of(client.post(ANALYZE, json=coral_analyze(OFF_TOPIC_TEXT, "OFF_TOPIC")), 400)  # needs the article


def test_coral_feedback_finds_the_story_by_url_and_the_comment_its_phase_classified(platform: Client) -> None:
    with platform() as client:
        coral_post(client, SPAM_TEXT)  # the external phase classified (and stored) it under the story
        answer = client.post(SUGGEST, json=coral_suggest(SPAM_TEXT, "5fd0c7e3", approved=True))
        assert answer.json() == {"clientToken": "comment:5fd0c7e3"}
        stats = client.get("/stats").json()
        assert stats["decisions"] == 1
        assert stats["actions"]["reject"] == {"decided": 1, "overturned": 1, "rate": 1.0}  # approved: on_topic


def test_feedback_about_a_comment_never_classified_is_stored_with_its_text(platform: Client) -> None:
    with platform() as client:
        assert client.post(SUGGEST, json=coral_suggest(OFF_TOPIC_TEXT, "77aa", approved=False,
                                                       model="OFF_TOPIC")).status_code == 200
        assert client.get("/stats").json()["decisions"] == 1


def test_feedback_for_an_unknown_story_is_refused_as_a_failed_precondition(platform: Client) -> None:
    with platform() as client:
        body = coral_suggest(SPAM_TEXT, "1", approved=False)
        body["context"]["entries"][0]["text"] = json.dumps({"url": "https://elsewhere.example/x"})
        assert error_of(client.post(SUGGEST, json=body), 400) == "FAILED_PRECONDITION"


# -- reading requests ------------------------------------------------------------------------------------------
def test_the_article_named_by_article_id_gives_off_and_on_topic_scores(platform: Client) -> None:
    with platform() as client:
        body = {"comment": {"text": OFF_TOPIC_TEXT}, "articleId": BUDGET["id"],
                "requestedAttributes": {"OFF_TOPIC": {}, "ON_TOPIC": {}, "SPAM": {}}}
        scores = client.post(ANALYZE, json=body).json()["attributeScores"]
        values = {name: scores[name]["summaryScore"]["value"] for name in scores}
        assert values["OFF_TOPIC"] > 0.5 and abs(sum(values.values()) - 1) < 1e-3
        assert known_comments(client) == 1  # doNotStore false: kept as the article's thread
        assert error_of(client.post(ANALYZE, json={**body, "articleId": "never-stored"}), 404) == "NOT_FOUND"


def test_do_not_store_keeps_nothing_of_the_comment(make_client: Client, cautious_model: Path) -> None:
    with make_client(model_path=cautious_model) as client:
        client.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        body = {"comment": {"text": ON_TOPIC_TEXT}, "articleId": BUDGET["id"], "doNotStore": True,
                "requestedAttributes": {"ON_TOPIC": {}}}
        assert client.post(ANALYZE, json=body).status_code == 200
        assert known_comments(client) == 0 and client.get("/queue").json()["pending"] == 0
        client.post(ANALYZE, json={**body, "doNotStore": False})
        assert known_comments(client) == 1 and client.get("/queue").json()["pending"] == 1


def test_score_threshold_leaves_out_low_scores_and_spans_are_sentences(platform: Client) -> None:
    text = "Earn 5000 dollars a week!  Message me on whatsapp now.\nThe council vote was 5-2"
    with platform() as client:
        body = {"comment": {"text": text}, "articleId": BUDGET["id"], "spanAnnotations": True, "languages": ["en"],
                "requestedAttributes": {"SPAM": {"scoreType": "PROBABILITY"}, "ON_TOPIC": {"scoreThreshold": 1.0}}}
        answer = client.post(ANALYZE, json=body).json()
        assert set(answer["attributeScores"]) == {"SPAM"}
        spans = answer["attributeScores"]["SPAM"]["spanScores"]
        assert [text[s["begin"]:s["end"]] for s in spans] == [
            "Earn 5000 dollars a week!", "Message me on whatsapp now.", "The council vote was 5-2"]
        assert all(s["score"]["type"] == "PROBABILITY" for s in spans)


def test_languages_are_echoed_and_default_to_english(platform: Client) -> None:
    with platform() as client:
        body = {"comment": {"text": SPAM_TEXT}, "requestedAttributes": {"SPAM": {}}}
        assert client.post(ANALYZE, json=body).json()["languages"] == ["en"]
        assert client.post(ANALYZE, json={**body, "languages": ["fr", "en"]}).json()["languages"] == ["fr", "en"]


def test_shadow_mode_gives_no_score_and_stores_the_classification(platform: Client) -> None:
    with platform(shadow=True) as client:
        body = {"comment": {"text": SPAM_TEXT}, "articleId": BUDGET["id"], "requestedAttributes": {"SPAM": {}}}
        assert client.post(ANALYZE, json=body).json() == {"attributeScores": {}, "languages": ["en"]}
        assert known_comments(client) == 1


# -- refusals, in Google's shape -------------------------------------------------------------------------------
def test_the_key_goes_in_the_query_and_is_refused_as_google_refuses(platform: Client) -> None:
    body = {"comment": {"text": SPAM_TEXT}, "requestedAttributes": {"SPAM": {}}}
    with platform(api_key=API_KEY) as client:
        assert client.post(f"{ANALYZE}?key={API_KEY}", json=body).status_code == 200
        assert client.post(ANALYZE, json=body, headers={"X-Goog-Api-Key": API_KEY}).status_code == 200
        assert error_of(client.post(ANALYZE, json=body), 403) == "PERMISSION_DENIED"
        assert error_of(client.post(f"{ANALYZE}?key=nope", json=body), 400) == "INVALID_ARGUMENT"
        assert error_of(client.post(f"{SUGGEST}?key=nope", json=body), 400) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[]",
    b"{}",
    json.dumps({"comment": {"text": "x"}}).encode(),
    json.dumps({"comment": {"text": ""}, "requestedAttributes": {"SPAM": {}}}).encode(),
    json.dumps({"comment": {"text": "x"}, "requestedAttributes": {}}).encode(),
    json.dumps({"comment": {"text": "x"}, "requestedAttributes": {"TOXICITY": {}}}).encode(),
    json.dumps({"comment": {"text": "x"}, "requestedAttributes": {"SPAM": {"scoreType": "STD_DEV_SCORE"}}}).encode(),
    json.dumps({"comment": {"text": "x"}, "requestedAttributes": {"SPAM": {"scoreThreshold": 2}}}).encode(),
    json.dumps({"comment": {"text": "x"}, "requestedAttributes": {"SPAM": {}}, "spanAnnotations": "yes"}).encode(),
    json.dumps({"comment": {"text": "<p>x</p>", "type": "HTML"}, "requestedAttributes": {"SPAM": {}},
                "spanAnnotations": True}).encode(),
    json.dumps({"comment": {"text": "x" * 20_001}, "requestedAttributes": {"SPAM": {}}}).encode(),
])
def test_a_bad_analyze_request_is_googles_invalid_argument(platform: Client, body: bytes) -> None:
    with platform() as client:
        answer = client.post(ANALYZE, content=body, headers={"Content-Type": "application/json"})
        assert error_of(answer, 400) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("scores", [{"TOXICITY": {"summaryScore": {"value": 1}}}, {"SPAM": {}}, {}])
def test_a_bad_suggestion_is_googles_invalid_argument(platform: Client, scores: dict[str, Any]) -> None:
    with platform() as client:
        body = {"comment": {"text": SPAM_TEXT}, "articleId": BUDGET["id"], "attributeScores": scores}
        assert error_of(client.post(SUGGEST, json=body), 400) == "INVALID_ARGUMENT"
        assert client.get("/stats").json()["decisions"] == 0
