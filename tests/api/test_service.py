"""The service around /classify: health, readiness, model info, Prometheus metrics, docs and the API key."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient

from model.bundle import ModelBundle
from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match.group(2))
    return 0.0


def test_health_ready_and_model(client: TestClient, tiny_bundle: ModelBundle) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model_version": tiny_bundle.version}
    info = client.get("/model").json()
    assert info["version"] == tiny_bundle.version
    assert info["labels"] == list(tiny_bundle.labels)
    assert info["thresholds"] == tiny_bundle.thresholds.to_dict()
    assert info["validation"] == tiny_bundle.metadata["validation"]
    assert info["training_data"]["comments"] == 33


def test_metrics_count_requests_labels_and_actions(client: TestClient, tiny_bundle: ModelBundle) -> None:
    results = client.post("/classify", json={"article": BUDGET, "comments": COMMENTS}).json()["results"]
    client.post("/classify", json={"article": BUDGET, "comments": []})
    text = client.get("/metrics").text
    assert metric(text, "moderate_http_requests_total", route="/classify", status="200") == 1
    assert metric(text, "moderate_http_requests_total", route="/classify", status="422") == 1
    assert metric(text, "moderate_http_request_duration_seconds_count", route="/classify") == 2
    for label in {r["label"] for r in results}:
        for action in {r["action"] for r in results if r["label"] == label}:
            expected = sum(1 for r in results if (r["label"], r["action"]) == (label, action))
            assert metric(text, "moderate_comments_classified_total", label=label, action=action) == expected
    assert metric(text, "moderate_batch_comments_sum") == len(COMMENTS)
    assert metric(text, "moderate_model_info", version=tiny_bundle.version) == 1
    client.get("/no/such/path")  # counted without its path, so unknown paths cannot blow up the label set
    assert metric(client.get("/metrics").text, "moderate_http_requests_total", route="unmatched", status="404") == 1


def test_docs_and_openapi_describe_the_contract(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/classify", "/articles/{article_id}", "/health", "/ready", "/model", "/metrics",
            "/admin/reload"} <= set(spec["paths"])
    response = spec["paths"]["/classify"]["post"]["responses"]
    assert response["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ClassifyResponse")
    assert {"400", "404", "413", "422", "503"} <= set(response)


@pytest.mark.parametrize("path", ["/health", "/ready", "/model", "/metrics", "/docs", "/articles/a1"])
def test_with_an_api_key_every_request_without_it_is_401(make_client: MakeClient, path: str) -> None:
    with make_client(api_key="s3cret") as client:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get(path, headers={"X-API-Key": "s3cret"}).status_code != 401


def test_api_key_in_either_header(make_client: MakeClient) -> None:
    payload = {"article": BUDGET, "comments": COMMENTS[:1]}
    with make_client(api_key="s3cret") as client:
        refused = client.post("/classify", json=payload)
        assert refused.status_code == 401
        assert "X-API-Key" in refused.json()["detail"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/classify", json=payload, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.post("/classify", json=payload,
                           headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.post("/classify", json=payload, headers={"Authorization": "s3cret"}).status_code == 401


def test_without_an_api_key_nothing_asks_for_one(client: TestClient) -> None:
    assert client.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:1]}).status_code == 200
