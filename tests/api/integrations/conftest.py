"""Fixtures for the integrations: a bundle whose thresholds approve, review and reject the tiny corpus's comments,
apps with the platforms' secrets, and requests built as the platforms' own clients build them."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model.actions import Thresholds
from model.bundle import ModelBundle
from tests.api.conftest import BUDGET

CORAL_SECRET = "empsec_" + "3f" * 32
WEBHOOK_SECRET = "whsec_" + "a1" * 32
API_KEY = "integration-key-0123456789"
STORY_URL = "https://news.example/2025/budget-vote/"

#: Texts of the tiny corpus's world and what the decisive bundle says about them under BUDGET.
ON_TOPIC_TEXT = "Raising property taxes while cutting library hours is backwards."
SPAM_TEXT = "Earn 5000 dollars a week from home, message me on whatsapp now"
OFF_TOPIC_TEXT = "What a header in stoppage time at the derby on Saturday!"

Client = Callable[..., AbstractContextManager[TestClient]]


def with_thresholds(model_dir: Path, name: str, thresholds: Thresholds) -> Path:
    bundle = dataclasses.replace(ModelBundle.load(model_dir), thresholds=thresholds)
    return bundle.save(model_dir.parent / name)


@pytest.fixture
def decisive_model(model_dir: Path) -> Path:
    """Approves ON_TOPIC_TEXT, rejects SPAM_TEXT as spam and OFF_TOPIC_TEXT as off topic (under BUDGET)."""
    return with_thresholds(model_dir, "decisive", Thresholds(reject={"spam": 0.5, "off_topic": 0.5}, approve=0.5))


@pytest.fixture
def cautious_model(model_dir: Path) -> Path:
    """Never approves or rejects: every comment goes to review."""
    return with_thresholds(model_dir, "cautious", Thresholds(reject={}, approve=None))


@pytest.fixture
def platform(make_client: Client, decisive_model: Path) -> Client:
    """`with platform(shadow=True) as client:` an app with the decisive model, Coral's secrets and BUDGET stored
    at STORY_URL."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {"model_path": decisive_model, "coral_secret": CORAL_SECRET,
                                  "coral_webhook_secret": WEBHOOK_SECRET}
        values.update(overrides)
        with make_client(**values) as client:
            key = {"X-API-Key": values["api_key"]} if values.get("api_key") else {}
            stored = client.put(f"/articles/{BUDGET['id']}", headers=key,
                                json={"title": BUDGET["title"], "body": BUDGET["body"], "url": STORY_URL})
            assert stored.status_code in (200, 201), stored.text
            yield client

    return make


def coral_sign(body: bytes, *secrets: str) -> str:
    """X-Coral-Signature as Coral's generateSignatures writes it: one sha256= per active secret, comma-joined."""
    return ",".join("sha256=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def coral_body(text: str, *, story_id: str = BUDGET["id"], story_url: str = STORY_URL,
               parent_id: str | None = None, action: str = "NEW") -> bytes:
    """The body of Coral's external moderation request, serialised as Coral does (JSON.stringify(request, null,
    2)), with the fields of external.ts's ExternalModerationRequest in its order."""
    request = {
        "action": action,
        "comment": {"body": text, "parentID": parent_id},
        "author": {"id": "baf4e943-3594-4fcc-b2ba-3e8de7a76352", "role": "COMMENTER"},
        "story": {"id": story_id, "url": story_url},
        "site": {"id": "a4bede88-2d2c-4424-bc18-4322a9e285a6"},
        "tenantID": "19ba5794-7eeb-4d46-a81b-c00c61672501",
        "tenantDomain": "news.example",
    }
    return json.dumps(request, indent=2, ensure_ascii=False).encode("utf-8")


def coral_headers(body: bytes, *secrets: str) -> dict[str, str]:
    """Coral's headers: its fetch's User-Agent, the JSON content type and the signature."""
    return {"Content-Type": "application/json", "User-Agent": "Coral Moderation/9.11.0",
            "X-Coral-Signature": coral_sign(body, *(secrets or (CORAL_SECRET,)))}


def coral_post(client: TestClient, text: str, **fields: Any) -> Any:
    body = coral_body(text, **fields)
    return client.post("/integrations/coral", content=body, headers=coral_headers(body))


def known_comments(client: TestClient) -> int:
    return int(client.get(f"/articles/{BUDGET['id']}").json()["known_comments"])
