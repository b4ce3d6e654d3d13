"""DELETE /articles/{id} deletes: comments classified before it never come back after it (issue 15, finding 4).

Remembered comments are written behind the answer. Measured before the fix: a DELETE that arrived while a
200-comment classify was still being answered returned 204, then the queued writes landed, so after a re-PUT of
the same id the old comments were its thread again and a reply to one of them was accepted. The gates below hold
the model call (or the context build) at the point where the DELETE arrived, so each run takes that path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]
STORED = {"title": BUDGET["title"], "body": BUDGET["body"]}
OLD = [{"id": f"old-{i}", "text": f"{COMMENTS[i % 4]['text']} ({i})", "parent_id": None} for i in range(200)]
REPLY_TO_OLD = {"id": "reply", "text": "Source for that?", "parent_id": "old-7"}


class Gate:
    """Wraps a method so that its first call waits, once entered, until the test opens the gate."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.entered.is_set():
            self.entered.set()
            assert self.opened.wait(timeout=30), "the test never opened the gate"
        return self.method(*args, **kwargs)


@contextmanager
def in_background(call: Callable[[], Any]) -> Iterator[list[Any]]:
    """Run `call` in a thread for the duration of the block; the list holds its result afterwards."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    try:
        yield result
    finally:
        thread.join(timeout=60)
    assert result, "the background request did not finish"


def classify_old(client: TestClient) -> Any:
    return client.post("/classify", json={"article": {"id": "a1"}, "comments": OLD, "remember": True})


def assert_forgotten(client: TestClient) -> None:
    """After a re-PUT the article has no comments, and a reply to one of the deleted ones is refused."""
    assert client.put("/articles/a1", json=STORED).status_code == 201
    assert client.get("/articles/a1").json()["known_comments"] == 0
    reply = client.post("/classify", json={"article": {"id": "a1"}, "comments": [REPLY_TO_OLD]})
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == "comments[0].parent_id"
    assert "unknown parent 'old-7'" in reply.json()["detail"]


def test_delete_right_after_a_200_comment_classify_forgets_them(client: TestClient) -> None:
    assert client.put("/articles/a1", json=STORED).status_code == 201
    assert classify_old(client).status_code == 200
    assert client.delete("/articles/a1").status_code == 204  # within the writer's 0.1 s linger
    assert_forgotten(client)


def test_delete_while_the_classify_is_being_answered_wins(client: TestClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.put("/articles/a1", json=STORED).status_code == 201
    bundle = client.app.state.service.model.bundle
    gate = Gate(bundle.classify_many)
    monkeypatch.setattr(bundle, "classify_many", gate)
    with in_background(lambda: classify_old(client)) as answer:
        assert gate.entered.wait(timeout=30)
        assert client.delete("/articles/a1").status_code == 204
        gate.opened.set()
    assert answer[0].status_code == 200  # it was sent before the DELETE: it is answered, not remembered
    assert_forgotten(client)


def test_delete_while_the_article_context_is_being_built_wins(client: TestClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.put("/articles/a1", json=STORED).status_code == 201
    bundle = client.app.state.service.model.bundle
    gate = Gate(bundle.article_context)
    monkeypatch.setattr(bundle, "article_context", gate)
    with in_background(lambda: classify_old(client)) as answer:
        assert gate.entered.wait(timeout=30)
        assert client.delete("/articles/a1").status_code == 204
        gate.opened.set()
    assert answer[0].status_code == 200
    assert_forgotten(client)


def test_a_delete_in_another_worker_wins_too(make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two apps on one database stand for two worker processes: the deletion count lives in the database."""
    with make_client() as first, make_client() as second:
        assert first.put("/articles/a1", json=STORED).status_code == 201
        bundle = first.app.state.service.model.bundle
        gate = Gate(bundle.classify_many)
        monkeypatch.setattr(bundle, "classify_many", gate)
        with in_background(lambda: classify_old(first)) as answer:
            assert gate.entered.wait(timeout=30)
            assert second.delete("/articles/a1").status_code == 204
            gate.opened.set()
        assert answer[0].status_code == 200
        first.app.state.service.store.flush()  # the first worker's writer has had its chance
        assert_forgotten(second)


def test_comments_classified_after_the_delete_are_kept(client: TestClient) -> None:
    """The deletion drops what was on its way, not what comes after it."""
    assert client.put("/articles/a1", json=STORED).status_code == 201
    assert classify_old(client).status_code == 200
    assert client.delete("/articles/a1").status_code == 204
    assert client.put("/articles/a1", json=STORED).status_code == 201
    fresh = {"id": "new-1", "text": COMMENTS[0]["text"], "parent_id": None}
    assert client.post("/classify", json={"article": {"id": "a1"}, "comments": [fresh]}).status_code == 200
    assert client.get("/articles/a1").json()["known_comments"] == 1
    reply = {"id": "reply", "text": "Source for that?", "parent_id": "new-1"}
    assert client.post("/classify", json={"article": {"id": "a1"}, "comments": [reply]}).status_code == 200
