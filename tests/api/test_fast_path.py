"""The /classify fast path: an error found during classification is answered once, by the app's own handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET, COMMENTS


def counting(client: TestClient) -> list[int]:
    """Count the classifications the service runs (wraps its classify method on this app only)."""
    service = client.app.state.service  # type: ignore[attr-defined]
    calls = [0]
    original: Callable[..., Any] = service.classify

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await original(*args, **kwargs)

    service.classify = counted
    return calls


def test_an_unknown_parent_costs_one_classification_and_is_the_apps_422(client: TestClient) -> None:
    calls = counting(client)
    orphan = {"id": "o1", "text": "Agreed, the pension numbers are off.", "parent_id": "never-seen"}
    response = client.post("/classify", json={"article": BUDGET, "comments": [orphan]})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "comments[0].parent_id" and "unknown parent 'never-seen'" in body["detail"]
    assert calls[0] == 1, "the error answer re-ran the classification"


def test_a_valid_request_is_classified_once(client: TestClient) -> None:
    calls = counting(client)
    assert client.post("/classify", json={"article": BUDGET, "comments": COMMENTS}).status_code == 200
    assert calls[0] == 1


def test_an_unknown_stored_article_is_the_apps_404_without_classifying(client: TestClient) -> None:
    calls = counting(client)
    response = client.post("/classify", json={"article": {"id": "nowhere"}, "comments": COMMENTS})
    assert response.status_code == 404 and response.json()["field"] == "article.id"
    assert calls[0] <= 1
