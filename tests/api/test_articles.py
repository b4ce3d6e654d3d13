"""Articles by reference: stored in SQLite, kept across a restart, and re-read when they change."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient

from api import thread_store
from model.bundle import ModelBundle
from model.types import Article, Comment
from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]
STORED = {"title": BUDGET["title"], "body": BUDGET["body"]}
REPLY = {"id": "r1", "text": "Source for that?", "parent_id": "c1"}


def classify_by_reference(client: TestClient, article_id: str, comments: list[dict]) -> dict:
    response = client.post("/classify", json={"article": {"id": article_id}, "comments": comments})
    assert response.status_code == 200, response.text
    return response.json()


def test_put_then_classify_by_id_gives_the_same_answer_as_inline(client: TestClient, make_client: MakeClient) -> None:
    created = client.put("/articles/budget-2025", json=STORED)
    assert created.status_code == 201
    assert created.json() == {"id": "budget-2025", **STORED, "known_comments": 0}
    by_reference = classify_by_reference(client, "budget-2025", COMMENTS[:2])
    with make_client(database_path=client.app.state.settings.database_path.with_name("other.sqlite3")) as fresh:
        inline = fresh.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:2]}).json()
    assert by_reference == inline


def test_get_replace_and_delete(client: TestClient) -> None:
    assert client.put("/articles/a1", json={"title": "First title"}).status_code == 201
    replaced = client.put("/articles/a1", json={"title": "Second title", "body": "Now with a body."})
    assert replaced.status_code == 200
    classify_by_reference(client, "a1", [{"id": "x", "text": "A comment about the second title."}])
    assert client.get("/articles/a1").json() == {
        "id": "a1", "title": "Second title", "body": "Now with a body.", "known_comments": 1}
    assert client.delete("/articles/a1").status_code == 204
    missing = client.get("/articles/a1")
    assert missing.status_code == 404
    assert missing.json()["field"] == "article_id"
    assert client.delete("/articles/a1").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/articles/a1", {"body": "no title"}, "title"),
        ("/articles/a1", {"title": 3}, "title"),
        ("/articles/a1", {"title": ""}, "title"),
        ("/articles/" + "x" * 201, {"title": "t"}, "article_id"),
    ],
)
def test_bad_article_bodies_name_the_field(client: TestClient, path: str, body: dict, field: str) -> None:
    response = client.put(path, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_changing_the_article_changes_the_answers(client: TestClient, tiny_bundle: ModelBundle) -> None:
    comment = {"id": "k1", "text": "Measles cases are rising, get the MMR vaccine.", "parent_id": None}
    client.put("/articles/a1", json=STORED)
    before = classify_by_reference(client, "a1", [comment])["results"][0]
    measles = {"title": "Measles cases rise to 40 in county outbreak",
               "body": "Officials opened free vaccination clinics and urged parents to check MMR doses."}
    client.put("/articles/a1", json=measles)
    after = classify_by_reference(client, "a1", [{**comment, "id": "k2"}])["results"][0]
    # What the bundle says under the new article, with k1 (remembered under a1) as the thread.
    article = Article(id="a1", **measles)
    context = tiny_bundle.article_context(article)
    tiny_bundle.classify(article, [Comment("k1", comment["text"])], context=context, remember=True)
    expected = tiny_bundle.classify(article, [Comment("k2", comment["text"])], context=context)[0]
    assert after["scores"] == pytest.approx(expected.scores, abs=1e-6)
    assert after["scores"] != pytest.approx(before["scores"], abs=1e-6)


def test_an_inline_article_is_stored_for_later_requests_when_the_setting_asks(make_client: MakeClient) -> None:
    with make_client(store_inline_articles=True) as client:
        assert client.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:1]}).status_code == 200
        stored = client.get(f"/articles/{BUDGET['id']}").json()
    assert (stored["title"], stored["body"], stored["known_comments"]) == (BUDGET["title"], BUDGET["body"], 1)


def test_articles_and_known_comments_survive_a_restart(make_client: MakeClient, tiny_bundle: ModelBundle) -> None:
    with make_client() as client:
        client.put("/articles/budget-2025", json=STORED)
        classify_by_reference(client, "budget-2025", COMMENTS[:2])
        before = classify_by_reference(client, "budget-2025", [REPLY])
    with make_client() as restarted:
        assert restarted.get("/articles/budget-2025").json()["known_comments"] == 3
        again = classify_by_reference(restarted, "budget-2025", [{**REPLY, "id": "r2"}])
    # The rebuilt thread (c1, c2, r1 from the database) gives the answer a live one would have given.
    article = Article(**BUDGET)
    context = tiny_bundle.article_context(article)
    tiny_bundle.classify(article, [Comment(c["id"], c["text"]) for c in [*COMMENTS[:2], REPLY]],
                         context=context, remember=True)
    expected = tiny_bundle.classify(article, [Comment("r2", REPLY["text"], "c1")], context=context)[0]
    assert again["results"][0]["scores"] == pytest.approx(expected.scores, abs=1e-6)
    assert before["results"][0]["id"] == "r1"


def test_a_comment_sent_again_after_a_restart_is_not_counted_twice(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart the thread comes back as a stored sum whose comments have no names in memory (those
    folded into it); a comment of that sum sent again must still meet only the others."""
    monkeypatch.setattr(thread_store, "FOLD_AT", 2)  # fold at once, as a long thread's older comments are
    with make_client() as client:
        client.put("/articles/budget-2025", json=STORED)
        first = classify_by_reference(client, "budget-2025", COMMENTS)["results"]
    with make_client() as restarted:
        again = classify_by_reference(restarted, "budget-2025", [COMMENTS[3]])["results"][0]
        assert restarted.get("/articles/budget-2025").json()["known_comments"] == len(COMMENTS)
    assert again["scores"] == pytest.approx(first[3]["scores"], abs=1e-5)
