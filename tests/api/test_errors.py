"""Limits and errors: every client mistake is a clear 4xx naming the field; never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]


def post(client: TestClient, payload: object) -> tuple[int, dict]:
    response = client.post("/classify", json=payload)
    return response.status_code, response.json()


def one(text: str = "The property tax rise is too steep.", **fields: object) -> dict:
    return {"id": "c1", "text": text, "parent_id": None, **fields}


@pytest.mark.parametrize(
    ("payload", "status", "field", "message"),
    [
        ({"article": BUDGET, "comments": [one("")]}, 422, "comments[0].text", "at least 1 character"),
        ({"article": BUDGET, "comments": [one(" \u200b\n ")]}, 422, "comments[0].text", "empty text"),
        ({"article": BUDGET, "comments": []}, 422, "comments", "at least 1 item"),
        ({"comments": [one()]}, 422, "article", "required field is missing"),
        ({"article": BUDGET}, 422, "comments", "required field is missing"),
        ({"article": BUDGET, "comments": [{"id": "c1"}]}, 422, "comments[0].text", "required field is missing"),
        ({"article": {"title": "t"}, "comments": [one()]}, 422, "article.id", "required field is missing"),
        ({"article": BUDGET, "comments": [one(id=7)]}, 422, "comments[0].id", "valid string"),
        ({"article": BUDGET, "comments": [one(text=["a"])]}, 422, "comments[0].text", "valid string"),
        ({"article": BUDGET, "comments": "c1"}, 422, "comments", "valid list"),
        ({"article": BUDGET, "comments": [one()], "remember": "yes"}, 422, "remember", "valid boolean"),
        ({"article": {**BUDGET, "title": ""}, "comments": [one()]}, 422, "article.title", "at least 1 character"),
        ({"article": BUDGET, "comments": [one(), one(text="again")]}, 422, "comments[1].id", "duplicate comment id"),
        ({"article": BUDGET, "comments": [one(parent_id="nope")]}, 422, "comments[0].parent_id", "unknown parent"),
        ({"article": BUDGET, "comments": [one(parent_id="c1")]}, 422, "comments[0].parent_id", "reply to itself"),
        ({"article": {"id": "never-stored"}, "comments": [one()]}, 404, "article.id", "unknown article"),
        ([1, 2], 422, "body", "expected a JSON object"),
    ],
)
def test_client_mistakes_get_a_4xx_naming_the_field(
    client: TestClient, payload: object, status: int, field: str, message: str
) -> None:
    got, body = post(client, payload)
    assert got == status, body
    assert body["field"] == field
    assert message in body["detail"]
    assert field in body["detail"] or status == 404


def test_limits_come_from_the_settings(make_client: MakeClient) -> None:
    with make_client(max_comments=3, max_comment_chars=40, max_id_chars=12) as client:
        status, body = post(client, {"article": BUDGET, "comments": [one(id=f"c{i}") for i in range(4)]})
        assert (status, body["field"]) == (422, "comments")
        assert "at most 3 items" in body["detail"]
        status, body = post(client, {"article": BUDGET, "comments": [one("x" * 41)]})
        assert (status, body["field"]) == (422, "comments[0].text")
        assert "at most 40 characters" in body["detail"]
        status, body = post(client, {"article": BUDGET, "comments": [one(id="1234567890123")]})
        assert (status, body["field"]) == (422, "comments[0].id")
        assert post(client, {"article": BUDGET, "comments": [one("x" * 40, id="123456789012")]})[0] == 200
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert schema["ClassifyRequest"]["properties"]["comments"]["maxItems"] == 3


def test_body_that_is_not_json_or_not_utf8(client: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    response = client.post("/classify", content=b'{"article": {"id": "a\xff"}}', headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "the request body is not valid UTF-8: byte 0xff at position 21",
                               "field": "body"}
    response = client.post("/classify", content=b'{"article": ', headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the request body is not valid JSON")
    response = client.post("/classify", content=b"", headers=headers)
    assert (response.status_code, response.json()["detail"]) == (422, "the request body is empty: send a JSON object")
    response = client.post("/classify", content=json.dumps({"article": BUDGET, "comments": [one()]}).encode(),
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]


def test_oversize_body_is_refused_before_parsing(make_client: MakeClient) -> None:
    with make_client(max_body_bytes=2048) as client:
        big = json.dumps({"article": BUDGET, "comments": [one("word " * 500)]}).encode()
        assert len(big) > 2048
        response = client.post("/classify", content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert "larger than 2048 bytes" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
            for start in range(0, len(big), 500):
                yield big[start:start + 500]

        response = client.post("/classify", content=chunks(), headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["field"] == "body"
        small = json.dumps({"article": BUDGET, "comments": [one()]}).encode()
        assert client.post("/classify", content=small, headers={"Content-Type": "application/json"}).status_code == 200


def test_without_a_model_the_service_is_up_but_answers_503_with_how_to_train(
    make_client: MakeClient, tmp_path: Path
) -> None:
    with make_client(model_path=tmp_path / "nothing-here") as client:
        assert client.get("/health").status_code == 200
        for response in (client.get("/ready"), client.get("/model"),
                         client.post("/classify", json={"article": BUDGET, "comments": COMMENTS})):
            assert response.status_code == 503
            assert "moderate train" in response.json()["detail"]
        assert client.put("/articles/a1", json={"title": "Stored without a model"}).status_code == 201


def test_unknown_routes_and_methods_are_4xx(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/classify").status_code == 405


# -- no 500 for anything a client can send -------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
comment_values = st.fixed_dictionaries(
    {"id": st.text(max_size=5) | json_values, "text": st.text(max_size=60) | json_values},
    optional={"parent_id": st.none() | st.sampled_from(["c1", "0", ""]) | st.text(max_size=3)},
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"article": st.fixed_dictionaries({"id": st.text(max_size=8)},
                                          optional={"title": st.text(max_size=20), "body": json_values}),
         "comments": st.lists(comment_values, max_size=5)},
        optional={"remember": json_values},
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_no_payload_gets_a_500(client: TestClient, payload: object) -> None:
    response = client.post("/classify", json=payload)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code != 200:
        assert response.json()["detail"]


@pytest.mark.parametrize("raw", [
    b'{"article": {"id": "a", "title": NaN}, "comments": [{"id": "c", "text": Infinity}]}',
    b'{"article": {"id": "a\\ud800", "title": "t"}, "comments": [{"id": "\\udfff", "text": "\\ud800 x"}]}',
    b'{"article": {"id": "a", "title": "t"}, "comments": [{"id": "c", "text": "x"}], "comments": 5}',
    b'{"article": {"id": "' + b"9" * 5000 + b'"}}',
    b'\xef\xbb\xbf{"article": {"id": "a"}}',
])
def test_odd_but_parseable_json_is_not_a_500(client: TestClient, raw: bytes) -> None:
    response = client.post("/classify", content=raw, headers={"Content-Type": "application/json"})
    assert 200 <= response.status_code < 500, response.text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_no_byte_string_gets_a_500(client: TestClient, raw: bytes) -> None:
    response = client.post("/classify", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
