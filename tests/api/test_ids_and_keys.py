"""Ids, parent cycles, who may call what, and what error answers reveal (issue 15, finding 7).

Measured before the fix: 'é' composed and decomposed were two articles; ids accepted NUL, right-to-left
overrides and zero-width characters; a parent cycle within one request was accepted; with a key set, /health
and /ready needed it; one key could do everything, reload included; 409 and 503 answers printed server paths.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.settings import Settings
from model.bundle import MODEL_FILE
from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]
STORED = {"title": BUDGET["title"], "body": BUDGET["body"]}
COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"

#: Controls, bidi embeddings/overrides/isolates and marks, zero-width characters: each hides in a page or
#: reorders the text around it.
REFUSED = ["\x00", "\x1b", "\n", "\x7f", "\x85",
           "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
           "\u200e", "\u200f", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060"]


def classify(client: TestClient, comments: list[dict], article: dict | None = None) -> TestClient:
    return client.post("/classify", json={"article": article or {"id": "a1"}, "comments": comments})


# -- ids: one spelling per id ------------------------------------------------------------------------------------
def test_composed_and_decomposed_article_ids_are_one_article(client: TestClient) -> None:
    assert client.put(f"/articles/{DECOMPOSED}", json=STORED).status_code == 201
    assert client.put(f"/articles/{COMPOSED}", json=STORED).status_code == 200  # replaced, not a second one
    assert client.get(f"/articles/{DECOMPOSED}").json()["id"] == COMPOSED
    answer = classify(client, COMMENTS[:1], article={"id": DECOMPOSED})
    assert answer.status_code == 200, answer.text
    assert client.get(f"/articles/{COMPOSED}").json()["known_comments"] == 1
    assert client.delete(f"/articles/{DECOMPOSED}").status_code == 204
    assert client.get(f"/articles/{COMPOSED}").status_code == 404


def test_composed_and_decomposed_comment_ids_are_one_comment(client: TestClient) -> None:
    client.put("/articles/a1", json=STORED)
    first = classify(client, [{"id": DECOMPOSED, "text": COMMENTS[0]["text"], "parent_id": None}])
    assert first.json()["results"][0]["id"] == COMPOSED
    reply = classify(client, [{"id": "r1", "text": "Source for that?", "parent_id": COMPOSED}])
    assert reply.status_code == 200, reply.text  # a parent from an earlier request, under either spelling
    in_one = classify(client, [{"id": f"x-{COMPOSED}", "text": COMMENTS[0]["text"]},
                               {"id": "r2", "text": "Agreed.", "parent_id": f"x-{DECOMPOSED}"}])
    assert in_one.status_code == 200, in_one.text
    duplicate = classify(client, [{"id": f"d-{COMPOSED}", "text": COMMENTS[0]["text"]},
                                  {"id": f"d-{DECOMPOSED}", "text": COMMENTS[2]["text"]}])
    assert duplicate.status_code == 422 and duplicate.json()["field"] == "comments[1].id"


def refused_answer(client: TestClient, where: str, bad: str) -> tuple[int, dict]:
    comment = {"id": "c1", "text": COMMENTS[0]["text"], "parent_id": None}
    if where == "article.id":
        answer = classify(client, [comment], article={**BUDGET, "id": bad})
    elif where == "comments[0].id":
        answer = classify(client, [{**comment, "id": bad}], article=BUDGET)
    elif where == "comments[1].parent_id":
        answer = classify(client, [comment, {"id": "c2", "text": "Agreed.", "parent_id": bad}], article=BUDGET)
    else:
        method, _ = where.split()
        answer = client.request(method, f"/articles/{quote(bad, safe='')}", json=STORED if method == "PUT" else None)
    return answer.status_code, answer.json()


@pytest.mark.parametrize("where", ["article.id", "comments[0].id", "comments[1].parent_id",
                                   "PUT /articles/{id}", "GET /articles/{id}", "DELETE /articles/{id}"])
def test_control_bidi_and_zero_width_characters_in_any_id_are_a_422_naming_the_field(
    client: TestClient, where: str
) -> None:
    field = "article_id" if where.endswith("{id}") else where
    for char in REFUSED:
        status, body = refused_answer(client, where, f"ab{char}cd")
        assert status == 422, (where, f"U+{ord(char):04X}", body)
        assert body["field"] == field
        assert f"U+{ord(char):04X}" in body["detail"] and "at position 2" in body["detail"]
        assert char not in body["detail"]  # the answer names the character, it does not carry it
    assert client.get("/articles/a1").status_code == 404  # nothing was stored on the way


def test_ids_in_other_scripts_and_emoji_are_still_ids(client: TestClient) -> None:
    for article_id in ["статья-1", "記事", "مقال", "🗞️-2025", "İstanbul"]:
        put = client.put(f"/articles/{article_id}", json=STORED)
        assert put.status_code == 201, put.text
        assert put.json()["id"] == unicodedata.normalize("NFC", article_id)


# -- parent cycles ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("parents", "field", "loop"),
    [
        (["c2", "c1"], "comments[1].parent_id", "'c2' -> 'c1' -> 'c2'"),
        (["c3", "c1", "c2"], "comments[2].parent_id", "'c3' -> 'c2' -> 'c1' -> 'c3'"),
        ([None, "c3", "c2"], "comments[2].parent_id", "'c3' -> 'c2' -> 'c3'"),
    ],
)
def test_a_parent_cycle_within_one_request_is_a_422_naming_the_field(
    client: TestClient, parents: list[str | None], field: str, loop: str
) -> None:
    comments = [{"id": f"c{i + 1}", "text": COMMENTS[i]["text"], "parent_id": parent}
                for i, parent in enumerate(parents)]
    answer = classify(client, comments, article=BUDGET)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert f"cycle ({loop})" in answer.json()["detail"]
    # Refused as a whole: none of its comments became a parent for later requests.
    later = classify(client, [{"id": "later", "text": "Agreed.", "parent_id": "c1"}], article=BUDGET)
    assert later.status_code == 422 and "unknown parent 'c1'" in later.json()["detail"]


def test_a_chain_of_replies_is_not_a_cycle(client: TestClient) -> None:
    comments = [{"id": "c3", "text": "Agreed, totally.", "parent_id": "c2"},
                {"id": "c2", "text": COMMENTS[2]["text"], "parent_id": "c1"},
                {"id": "c1", "text": COMMENTS[0]["text"], "parent_id": None}]
    assert classify(client, comments, article=BUDGET).status_code == 200


# -- who may call what -----------------------------------------------------------------------------------------
def test_open_probes_answer_without_the_key_and_nothing_else_does(make_client: MakeClient) -> None:
    with make_client(api_key="s3cret", open_probes=True) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200
        assert client.get("/ready", headers={"X-API-Key": "wrong"}).status_code == 200
        for method, path in [("GET", "/model"), ("GET", "/metrics"), ("POST", "/admin/reload"),
                             ("GET", "/articles/a1"), ("GET", "/health/x"), ("GET", "/readyz")]:
            assert client.request(method, path).status_code == 401, path
        assert classify(client, COMMENTS[:1], article=BUDGET).status_code == 401
        assert client.get("/model", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_probes_need_the_key_unless_opened(make_client: MakeClient) -> None:
    with make_client(api_key="s3cret") as client:
        assert client.get("/health").status_code == 401
        assert client.get("/ready").status_code == 401


def test_the_admin_key_guards_admin_and_the_api_key_no_longer_reloads(make_client: MakeClient) -> None:
    with make_client(api_key="s3cret", admin_key="adm1n") as client:
        refused = client.post("/admin/reload", headers={"X-API-Key": "s3cret"})
        assert refused.status_code == 403
        assert "MODERATE_ADMIN_KEY" in refused.json()["detail"]
        missing = client.post("/admin/reload")
        assert missing.status_code == 401 and "admin key" in missing.json()["detail"]
        assert client.post("/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": "adm1n"}).status_code == 200
        assert client.post("/admin/reload", headers={"Authorization": "Bearer adm1n"}).status_code == 200
        # The admin key opens /admin/* only; everything else still takes the API key.
        assert client.get("/model", headers={"X-API-Key": "adm1n"}).status_code == 401
        assert client.get("/model", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_an_admin_key_alone_guards_admin_and_leaves_the_rest_open(make_client: MakeClient) -> None:
    with make_client(admin_key="adm1n") as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": "adm1n"}).status_code == 200
        assert classify(client, COMMENTS[:1], article=BUDGET).status_code == 200


def test_the_admin_key_must_differ_from_the_api_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="MODERATE_ADMIN_KEY must differ from MODERATE_API_KEY"):
        Settings(api_key="same", admin_key="same", database_path=tmp_path / "db.sqlite3")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATE_OPEN_PROBES", "true")
    monkeypatch.setenv("MODERATE_ADMIN_KEY", "adm1n")
    settings = Settings()
    assert settings.open_probes is True
    assert settings.admin_key is not None and settings.admin_key.get_secret_value() == "adm1n"


# -- error answers name settings, not paths --------------------------------------------------------------------
def assert_names_no_path(detail: str, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in detail and str(path.resolve()) not in detail, detail
    assert "/tmp" not in detail and str(Path.home()) not in detail, detail


def test_a_refused_reload_names_the_setting_not_the_path(client: TestClient, model_dir: Path) -> None:
    with (model_dir / MODEL_FILE).open("ab") as handle:
        handle.write(b"corrupt")
    refused = client.post("/admin/reload")
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "MODERATE_MODEL_PATH" in detail and "does not match" in detail
    assert_names_no_path(detail, model_dir)


def test_no_model_names_the_setting_not_the_path(make_client: MakeClient, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    with make_client(model_path=missing) as client:
        for answer in (client.get("/ready"), classify(client, COMMENTS[:1], article=BUDGET)):
            assert answer.status_code == 503
            detail = answer.json()["detail"]
            assert "MODERATE_MODEL_PATH" in detail and "moderate train" in detail
            assert_names_no_path(detail, missing)


def test_storage_errors_name_the_setting_not_the_path(client: TestClient) -> None:
    database = client.app.state.settings.database_path
    # The database starts refusing writes under the running service, as a read-only remount would.
    client.app.state.service.store._db.execute("PRAGMA query_only = ON")
    answer = client.put("/articles/a1", json=STORED)
    assert answer.status_code == 503
    detail = answer.json()["detail"]
    assert detail.startswith("storage unavailable") and "MODERATE_DATABASE_PATH" in detail
    assert_names_no_path(detail, database)
