"""Fuzz the integrations past their credentials: Coral bodies signed as Coral signs them, Perspective bodies with
the key, Akismet forms with the api_key. The schema fuzz (test_schema_fuzz.py) cannot sign a body, and generates
few forms that reach past the key; here every generated request does.

Each request is a real one with parts replaced by arbitrary JSON (or form text), or arbitrary bytes. The answer
must be the protocol's: never a 5xx, a 4xx in the protocol's own shape, and a 200 that the platform accepts
(Coral's response schema drops an answer with any unknown status or flag reason).

    RELIABILITY_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/reliability/test_integration_fuzz.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings
from tests.api.integrations.conftest import CORAL_SECRET, WEBHOOK_SECRET, coral_body, coral_sign
from tests.reliability.conftest import derandomized, fuzz_examples

API_KEY = "fuzz-key-0123456789"
STORY = "fuzz-story"
URL = "https://news.example/fuzz"
CORAL_STATUSES = {"NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"}
AKISMET_ANSWERS = ("true", "false", "valid", "invalid", "Thanks for making the web a better place.",
                   "Missing required field: ", "Invalid request: ")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """`base` with some of its fields (top level or one level down) replaced by arbitrary JSON or removed."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = json.loads(json.dumps(base))
        for _ in range(draw(st.integers(0, 3))):
            target = value
            key = draw(st.sampled_from(sorted(target)))
            if isinstance(target[key], dict) and target[key] and draw(st.booleans()):
                target, key = target[key], draw(st.sampled_from(sorted(target[key])))
            if draw(st.booleans()):
                target[key] = draw(json_values)
            else:
                del target[key]
            if not isinstance(value, dict) or not value:
                break
        return value

    return build() | json_values


def run(test: Any) -> Any:
    return settings(max_examples=fuzz_examples(), deadline=None, derandomize=derandomized(), database=None,
                    suppress_health_check=list(HealthCheck))(test)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("integration-fuzz")
    service = create_app(Settings(
        model_path=tiny_bundle_dir, database_path=folder / "fuzz.sqlite3", api_key=API_KEY, reload_poll_seconds=0,
        coral_secret=CORAL_SECRET, coral_webhook_secret=WEBHOOK_SECRET, max_comment_chars=300, max_id_chars=24,
        max_body_bytes=16 * 1024))
    with TestClient(service, raise_server_exceptions=False) as client:
        client.put(f"/articles/{STORY}", headers={"X-API-Key": API_KEY},
                   json={"title": "Council passes city budget", "body": "Taxes rise.", "url": URL})
        yield client


def coral_accepts(body: dict[str, Any]) -> None:
    """What Coral's validateResponse (external.ts) requires of a 200."""
    assert body["status"] in CORAL_STATUSES
    for action in body.get("actions", []):
        assert action["actionType"] == "FLAG"
        assert action["reason"] in ("COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM")
    reason = body.get("moderationAction", {}).get("rejectionReason")
    if reason is not None:
        assert reason["code"] in ("SPAM", "IRRELEVANT_CONTENT") and isinstance(reason["detailedExplanation"], str)


def test_signed_coral_requests_get_coral_answers(app: TestClient) -> None:
    base = json.loads(coral_body("Taxes are too high", story_id=STORY, story_url=URL))

    seen: set[int] = set()

    @run
    @given(request=mutated(base) | st.binary(max_size=200))
    def check(request: Any) -> None:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        answer = app.post("/integrations/coral", content=body, headers={
            "Content-Type": "application/json", "X-Coral-Signature": coral_sign(body, CORAL_SECRET)})
        assert answer.status_code in (200, 204, 400, 422), (body, answer.status_code, answer.text)
        seen.add(answer.status_code)
        if answer.status_code == 200:
            coral_accepts(answer.json())
        elif answer.status_code != 204:
            assert answer.json()["field"], answer.text

    check()
    assert seen & {200, 204} and seen & {400, 422}, seen  # both judged and refused requests were generated


def test_signed_coral_webhooks_are_received_or_refused_as_4xx(app: TestClient) -> None:
    base = {"id": "e", "type": "COMMENT_LEFT_MODERATION_QUEUE", "tenantID": "t", "createdAt": "2026-12-03",
            "data": {"queue": "PENDING", "commentID": "c1", "status": "APPROVED", "storyID": STORY, "siteID": "s"}}

    @run
    @given(request=mutated(base) | st.binary(max_size=200))
    def check(request: Any) -> None:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        answer = app.post("/integrations/coral/webhook", content=body, headers={
            "Content-Type": "application/json", "X-Coral-Signature": coral_sign(body, WEBHOOK_SECRET)})
        assert answer.status_code in (200, 400, 422), (body, answer.status_code, answer.text)
        if answer.status_code == 200:
            assert answer.json()["outcome"] in ("decision stored", "unmatched", "not a decision")

    check()


@pytest.mark.parametrize("path", ["/v1alpha1/comments:analyze", "/v1alpha1/comments:suggestscore"])
def test_keyed_perspective_requests_get_perspective_answers(app: TestClient, path: str) -> None:
    base = {"comment": {"text": "Taxes are too high", "type": "PLAIN_TEXT"}, "articleId": STORY,
            "context": {"entries": [{"text": "Council passes budget"}, {"text": json.dumps({"url": URL})}]},
            "requestedAttributes": {"SPAM": {"scoreThreshold": 0.1}, "ON_TOPIC": {}}, "spanAnnotations": True,
            "attributeScores": {"SPAM": {"summaryScore": {"value": 1}}}, "languages": ["en"], "clientToken": "t"}

    seen: set[int] = set()

    @run
    @given(request=mutated(base) | st.binary(max_size=200))
    def check(request: Any) -> None:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        answer = app.post(f"{path}?key={API_KEY}", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code in (200, 400, 404), (body, answer.status_code, answer.text)
        seen.add(answer.status_code)
        if answer.status_code != 200:
            error = answer.json()["error"]
            assert error["code"] == answer.status_code and error["status"] and error["message"]

    check()
    assert {200, 400} <= seen, seen


@pytest.mark.parametrize("path", ["/1.1/comment-check", "/1.1/submit-spam", "/1.1/submit-ham", "/1.1/verify-key"])
def test_akismet_forms_get_akismet_answers(app: TestClient, path: str) -> None:
    fields = st.dictionaries(
        st.sampled_from(["api_key", "key", "blog", "user_ip", "permalink", "comment_content", "comment_parent",
                         "is_test", "blog_charset", "comment_type"]) | st.text(max_size=10),
        st.text(max_size=60) | st.sampled_from([API_KEY, URL, "https://news.example", "1", "true", ""]),
        max_size=8)

    seen: set[str] = set()

    @run
    @given(form=fields, keyed=st.booleans(), raw=st.none() | st.binary(max_size=120))
    def check(form: dict[str, str], keyed: bool, raw: bytes | None) -> None:
        if keyed:
            form = {"api_key": API_KEY, "key": API_KEY, "blog": "https://news.example", "user_ip": "203.0.113.7",
                    **{k: v for k, v in form.items() if k not in ("api_key", "key")}}
        body = raw if raw is not None else urlencode(form).encode()
        answer = app.post(path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200, (body, answer.status_code, answer.text)
        assert answer.text.startswith(AKISMET_ANSWERS), answer.text
        seen.add(answer.text.split(":")[0])

    check()
    assert len(seen) >= 2, seen  # answered, and refused
