"""The Akismet-compatible routes, through the `akismet` client from the package index (its httpx client given a
transport into our app) and through raw forms as WordPress's Akismet plugin posts them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import akismet
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET
from tests.api.integrations.conftest import (
    API_KEY,
    OFF_TOPIC_TEXT,
    ON_TOPIC_TEXT,
    SPAM_TEXT,
    STORY_URL,
    Client,
    known_comments,
)

BLOG = "https://news.example"
THANKS = "Thanks for making the web a better place."


class IntoTheApp(httpx.BaseTransport):
    """An httpx transport that hands each request to the app (through its started test client), whatever host the
    client addresses: the `akismet` client posts to https://rest.akismet.com/1.1/..."""

    def __init__(self, app: TestClient) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.app.request(request.method, request.url.raw_path.decode("ascii"), content=request.read(),
                                  headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.content)


@contextmanager
def akismet_client(app: TestClient, key: str = API_KEY) -> Iterator[akismet.SyncClient]:
    """The package's client as its docs build one with a custom httpx client (its User-Agent, our transport)."""
    http = httpx.Client(transport=IntoTheApp(app), headers={"User-Agent": akismet.USER_AGENT})
    with http:
        yield akismet.SyncClient(config=akismet.Config(key=key, url=BLOG), http_client=http)


def test_the_akismet_client_checks_and_submits_here(platform: Client) -> None:
    with platform(api_key=API_KEY) as app, akismet_client(app) as client:
        assert client.verify_key() is True
        assert client.verify_key(key="not-our-key", url=BLOG) is False
        check = {"user_agent": "Mozilla/5.0", "comment_type": "comment", "permalink": STORY_URL}
        assert client.comment_check("203.0.113.7", comment_content=SPAM_TEXT, **check) == akismet.CheckResponse.DISCARD
        assert client.comment_check("203.0.113.7", comment_content=ON_TOPIC_TEXT, **check) == akismet.CheckResponse.HAM
        assert client.submit_spam("203.0.113.7", comment_content=ON_TOPIC_TEXT, **check) is True
        assert client.submit_ham("203.0.113.7", comment_content=SPAM_TEXT, **check) is True
        stats = app.get("/stats", headers={"X-API-Key": API_KEY}).json()
        assert stats["decisions"] == 2
        assert stats["actions"]["approve"] == {"decided": 1, "overturned": 1, "rate": 1.0}
        assert stats["actions"]["reject"] == {"decided": 1, "overturned": 1, "rate": 1.0}
        assert 'moderate_decisions_total{label="spam",source="akismet"} 1.0' in app.get(
            "/metrics", headers={"X-API-Key": API_KEY}).text


def test_the_client_raises_its_key_error_and_shows_a_missing_field(platform: Client) -> None:
    with platform(api_key=API_KEY) as app:
        with akismet_client(app, key="wrong") as client, pytest.raises(akismet.APIKeyError):
            client.comment_check("203.0.113.7", comment_content=SPAM_TEXT)
        with akismet_client(app) as client, pytest.raises(akismet.ProtocolError, match="user_ip"):
            client.comment_check("", comment_content=SPAM_TEXT)


def form(**fields: str) -> dict[str, str]:
    """The fields WordPress's Akismet plugin posts for a comment (Akismet::auto_check_comment), less the ones we
    do not read; `fields` adds or replaces."""
    values = {"api_key": API_KEY, "blog": BLOG, "blog_lang": "en_US", "blog_charset": "UTF-8",
              "user_ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "referrer": f"{STORY_URL}#respond",
              "permalink": STORY_URL, "comment_type": "comment", "comment_author": "reader",
              "comment_author_email": "reader@example.com", "comment_post_ID": "42", "comment_parent": "0",
              "comment_content": ON_TOPIC_TEXT}
    values.update(fields)
    return values


def post(app: TestClient, path: str, fields: dict[str, str]) -> httpx.Response:
    return app.post(path, content=urlencode(fields),
                    headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})


@pytest.mark.parametrize(("text", "answer", "discard"), [
    (SPAM_TEXT, "true", True), (OFF_TOPIC_TEXT, "true", True), (ON_TOPIC_TEXT, "false", False),
    (f'<p>{SPAM_TEXT} <a href="https://pills.example">here</a></p>', "true", True),
])
def test_comment_check_answers_as_akismet_does(platform: Client, text: str, answer: str, discard: bool) -> None:
    with platform(api_key=API_KEY) as app:
        reply = post(app, "/1.1/comment-check", form(comment_content=text))
        assert reply.status_code == 200 and reply.text == answer
        assert reply.headers["content-type"].startswith("text/plain")
        assert (reply.headers.get("X-akismet-pro-tip") == "discard") is discard


def test_without_a_known_permalink_a_comment_is_judged_for_spam_only_and_kept_nowhere(platform: Client) -> None:
    with platform() as app:
        for fields in ({"permalink": ""}, {"permalink": "https://news.example/never-stored"}):
            assert post(app, "/1.1/comment-check", form(comment_content=OFF_TOPIC_TEXT, **fields)).text == "false"
            assert post(app, "/1.1/comment-check", form(comment_content=SPAM_TEXT, **fields)).text == "true"
            assert post(app, "/1.1/submit-spam", form(comment_content=SPAM_TEXT, **fields)).text == THANKS
        assert known_comments(app) == 0 and app.get("/stats").json()["decisions"] == 0


def test_a_test_request_keeps_nothing(platform: Client) -> None:
    with platform() as app:
        assert post(app, "/1.1/comment-check", form(comment_content=SPAM_TEXT, is_test="1")).text == "true"
        assert post(app, "/1.1/submit-spam", form(comment_content=SPAM_TEXT, is_test="true")).text == THANKS
        assert known_comments(app) == 0 and app.get("/stats").json()["decisions"] == 0


def test_a_review_that_is_spam_is_held_and_an_off_topic_review_is_let_through(make_client: Client,
                                                                              cautious_model: object) -> None:
    with make_client(model_path=cautious_model) as app:
        app.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"],
                                                   "url": STORY_URL})
        spam = post(app, "/1.1/comment-check", form(comment_content=SPAM_TEXT))
        assert spam.text == "true" and "X-akismet-pro-tip" not in spam.headers
        assert post(app, "/1.1/comment-check", form(comment_content=OFF_TOPIC_TEXT)).text == "false"
        assert app.get("/queue").json()["pending"] == 2  # both wait for a moderator on our side


def test_ham_submitted_for_a_comment_we_called_off_topic_is_on_topic(platform: Client) -> None:
    with platform() as app:
        assert post(app, "/1.1/comment-check", form(comment_content=OFF_TOPIC_TEXT)).text == "true"
        assert post(app, "/1.1/submit-ham", form(comment_content=OFF_TOPIC_TEXT)).text == THANKS
        stats = app.get("/stats").json()
        assert stats["actions"]["reject"] == {"decided": 1, "overturned": 1, "rate": 1.0}


def test_shadow_mode_says_not_spam_and_stores_the_classification(platform: Client) -> None:
    with platform(shadow=True) as app:
        reply = post(app, "/1.1/comment-check", form(comment_content=SPAM_TEXT))
        assert reply.text == "false" and "X-akismet-pro-tip" not in reply.headers
        assert known_comments(app) == 1


@pytest.mark.parametrize(("path", "fields", "text", "debug"), [
    ("/1.1/comment-check", form(api_key="wrong"), "invalid", "api_key"),
    ("/1.1/comment-check", {k: v for k, v in form().items() if k != "api_key"}, "invalid", "api_key"),
    ("/1.1/comment-check", form(user_ip=""), "Missing required field: user_ip.", "user_ip"),
    ("/1.1/submit-ham", {k: v for k, v in form().items() if k != "blog"}, "Missing required field: blog.", "blog"),
    ("/1.1/submit-spam", form(permalink="x" * 3000), "Invalid request: permalink is longer than 2048 characters.",
     "permalink"),
    ("/1.1/comment-check", form(comment_content="x" * 20_001),
     "Invalid request: comment_content is longer than 20000 characters.", "comment_content"),
    ("/1.1/verify-key", {"key": "wrong", "blog": BLOG}, "invalid", "key"),
    ("/1.1/verify-key", {"key": API_KEY}, "Missing required field: blog.", "blog"),
])
def test_a_bad_request_is_answered_with_akismets_text_and_debug_header(
        platform: Client, path: str, fields: dict[str, str], text: str, debug: str) -> None:
    with platform(api_key=API_KEY) as app:
        reply = post(app, path, fields)
        assert reply.status_code == 200 and reply.text == text
        assert debug in reply.headers["X-akismet-debug-help"]
        assert known_comments_keyed(app) == 0


def known_comments_keyed(app: TestClient) -> int:
    answer = app.get(f"/articles/{BUDGET['id']}", headers={"X-API-Key": API_KEY})
    return int(answer.json()["known_comments"])


@pytest.mark.parametrize("body", [b"", b"{\"api_key\": 1}", b"%zz=%%&&&", "&".join(["a=1"] * 200).encode(),
                                  b"api_key=\xff\xfe&blog=\x00"])
def test_a_body_that_is_not_a_form_is_an_akismet_answer_not_an_error(platform: Client, body: bytes) -> None:
    with platform() as app:
        reply = app.post("/1.1/comment-check", content=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert reply.status_code == 200
        assert reply.text.startswith(("Missing required field", "Invalid request", "invalid")), reply.text
        assert reply.headers["X-akismet-debug-help"]


def test_a_charset_other_than_utf8_is_read_as_declared(make_client: Client, cautious_model: object) -> None:
    text = "Caf\u00e9 taxes are backwards, the library hours too"
    with make_client(model_path=cautious_model) as app:
        app.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"],
                                                   "url": STORY_URL})
        body = urlencode(form(comment_content=text), encoding="latin-1")
        reply = app.post("/1.1/comment-check", content=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"})
        assert reply.text == "false"
        assert [item["text"] for item in app.get("/queue").json()["items"]] == [text]
