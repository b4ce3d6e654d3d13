"""Fuzz every endpoint from the app's own OpenAPI schema (schemathesis), in-process, with and without an API key.

Valid and invalid requests are generated from the schema at /openapi.json; every answer must be a documented
status with a body that matches the documented schema, and never a 5xx (503 "no model" aside, which only a
service without a model gives: these apps have one). The apps run with small limits so that generated bodies
stay small; the limits are in the schema, so generation respects them and also tries to break them.

Short here (a bounded number of examples per endpoint); the long run is the same test with more examples:

    RELIABILITY_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/reliability/test_schema_fuzz.py
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.app import create_app
from api.middleware import SELF_AUTHENTICATED
from api.settings import Settings
from tests.reliability.conftest import derandomized, fuzz_examples

API_KEY = "fuzz-key-0123456789"
#: The integrations' routes are fuzzed too; a generated request never carries Coral's signature, so there they
#: exercise the refusal (tests/reliability/test_integration_fuzz.py fuzzes signed and keyed bodies).
CORAL_SECRET = "empsec_fuzz0123456789"

#: What every answer is checked for: no server error, and status, content type, headers and body as documented.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def small_settings(tmp: Path, model_dir: Path, api_key: str | None) -> Settings:
    return Settings(
        model_path=model_dir, database_path=tmp / "fuzz.sqlite3", api_key=api_key, reload_poll_seconds=0,
        max_comments=6, max_comment_chars=300, max_title_chars=120, max_article_chars=600, max_id_chars=24,
        max_body_bytes=16 * 1024, coral_secret=CORAL_SECRET, coral_webhook_secret=CORAL_SECRET,
    )


def started(tmp: Path, model_dir: Path, api_key: str | None) -> Iterator[tuple[TestClient, Any]]:
    app = create_app(small_settings(tmp, model_dir, api_key))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, schemathesis.openapi.from_dict(app.openapi())


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Iterator[tuple[TestClient, Any]]:
    yield from started(tmp_path_factory.mktemp("fuzz-open"), tiny_bundle_dir, None)


@pytest.fixture(scope="module")
def keyed_app(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Iterator[tuple[TestClient, Any]]:
    yield from started(tmp_path_factory.mktemp("fuzz-keyed"), tiny_bundle_dir, API_KEY)


def send(client: TestClient, case: Any, headers: dict[str, str] | None = None) -> Any:
    """Send a generated case through the app's own test client (lifespan already started), not a network."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    method = kwargs.pop("method")
    url = kwargs.pop("url")
    kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):  # requests-style raw body; httpx calls it content
        kwargs["content"] = kwargs.pop("data")
    return client.request(method, url, **kwargs)


def fuzz(schema: Any, mode: GenerationMode, exercise: Callable[[Any], None]) -> dict[str, int]:
    """Run `exercise` on generated cases for every operation of `schema`; returns cases tried per operation.

    One Hypothesis run per operation (not one over all of them), so every endpoint gets its share of examples.
    """
    tried: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        tried[f"{operation.method.upper()} {operation.path}"] = fuzz_operation(operation, mode, exercise)
    return tried


def fuzz_operation(operation: Any, mode: GenerationMode, exercise: Callable[[Any], None]) -> int:
    """Cases of one operation tried; 0 when none can exist (nothing to make invalid in a request without input)."""
    tried = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=fuzz_examples(), deadline=None, derandomize=derandomized(), database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal tried
        tried += 1
        exercise(case)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE and not operation.body and not list(operation.iter_parameters())
    return tried


MODES = [pytest.param(GenerationMode.POSITIVE, id="valid"), pytest.param(GenerationMode.NEGATIVE, id="invalid")]


@pytest.mark.parametrize("mode", MODES)
def test_open_service_answers_every_generated_request_as_documented(
    mode: GenerationMode, open_app: tuple[TestClient, Any]
) -> None:
    client, schema = open_app

    def exercise(case: Any) -> None:
        case.validate_response(send(client, case), checks=CHECKS)

    tried = fuzz(schema, mode, exercise)
    print(f"open service, {mode.value} requests per operation: {tried}")  # figures for docs/reliability.md (-s)
    assert {"POST /classify", "PUT /articles/{article_id}", "GET /articles/{article_id}", "GET /ready",
            "POST /integrations/coral", "POST /v1alpha1/comments:analyze", "POST /1.1/comment-check"} <= set(tried)
    assert tried["POST /classify"] > 0 and tried["PUT /articles/{article_id}"] > 0, tried


@pytest.mark.parametrize("mode", MODES)
def test_keyed_service_answers_as_documented_with_the_key_and_401_without(
    mode: GenerationMode, keyed_app: tuple[TestClient, Any]
) -> None:
    client, schema = keyed_app
    refused = 0

    def exercise(case: Any) -> None:
        nonlocal refused
        if case.path.startswith(SELF_AUTHENTICATED):  # the protocol's own credential, refused in its own shape
            case.validate_response(send(client, case, headers={"X-API-Key": API_KEY}), checks=CHECKS)
            return
        with_key = send(client, case, headers={"X-API-Key": API_KEY})
        assert with_key.status_code != 401, with_key.text
        case.validate_response(with_key, checks=CHECKS)
        generated = {name.lower() for name in (case.headers or {})}
        if generated & {"x-api-key", "authorization"}:
            return  # the generated request sets the auth headers itself
        without = send(client, case)
        assert without.status_code == 401, (case.method, case.formatted_path, without.status_code, without.text)
        assert without.json()["detail"].startswith("missing or wrong API key")
        case.validate_response(without, checks=CHECKS)
        refused += 1

    tried = fuzz(schema, mode, exercise)
    print(f"keyed service, {mode.value} requests per operation: {tried}; {refused} also sent without the key")
    assert tried["POST /classify"] > 0 and tried["PUT /articles/{article_id}"] > 0, tried
    keyed = [operation for operation in tried if not operation.split()[1].startswith(SELF_AUTHENTICATED)]
    assert refused >= len(keyed) // 2, f"only {refused} requests were sent without the key"
