"""What the service stores is bounded, deletable and checked (issue 15, finding 6), and what it stored is found
again (finding 7: old parents, edits).

Measured before the fix: nothing was ever pruned (about 223 bytes per short comment, 200 KB per new inline
article, 14 MB/s from one client sending new inline article ids); a comment could not be deleted alone; deleting
the database file under the running service was silent (`/ready` said ready, everything was lost at the next
restart). A reply to a comment older than the 5,000 most recent of its article was an "unknown parent" though
the comment was in the database, and a known id re-sent with a new text stayed in the thread with the old one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]
ARTICLE = {"id": BUDGET["id"]}
STORED = {"title": BUDGET["title"], "body": BUDGET["body"]}
PROBE = {"id": "probe", "text": "The council should publish the pension costs before the vote."}
DAY = 86_400.0


def classify(client: TestClient, comments: list[dict], article: dict | None = None, remember: bool = True) -> dict:
    answer = client.post("/classify", json={"article": article or ARTICLE, "comments": comments,
                                            "remember": remember})
    assert answer.status_code == 200, answer.text
    return answer.json()


def probe(client: TestClient) -> dict[str, float]:
    return classify(client, [PROBE], remember=False)["results"][0]["scores"]


def reply_to(client: TestClient, parent_id: str) -> Any:
    return client.post("/classify", json={"article": ARTICLE, "comments": [
        {"id": f"reply-to-{parent_id}", "text": "Source for that?", "parent_id": parent_id}]})


def known(client: TestClient) -> int:
    return int(client.get(f"/articles/{BUDGET['id']}").json()["known_comments"])


def expected_probe(make_client: MakeClient, folder: Path, comments: list[dict]) -> dict[str, float]:
    """The probe's scores from a service that was only ever sent `comments`."""
    with make_client(database_path=folder / "expected.sqlite3") as fresh:
        fresh.put(f"/articles/{BUDGET['id']}", json=STORED)
        classify(fresh, [{**c, "parent_id": None} for c in comments])
        return probe(fresh)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aged_client(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, Clock]]:
    clock = Clock()
    settings = make_settings(retention_days=1, retention_check_seconds=0.05)
    with TestClient(create_app(settings, clock=clock)) as client:
        assert client.put(f"/articles/{BUDGET['id']}", json=STORED).status_code == 201
        yield client, clock


# -- retention ------------------------------------------------------------------------------------------------
def test_comments_older_than_the_retention_are_pruned(aged_client: tuple[TestClient, Clock],
                                                      make_client: MakeClient, tmp_path: Path) -> None:
    client, clock = aged_client
    classify(client, COMMENTS[:3])
    clock.now += 2 * DAY
    classify(client, [COMMENTS[3]])
    deadline = time.monotonic() + 10
    while known(client) != 1:
        assert time.monotonic() < deadline, "the old comments were not pruned"
        time.sleep(0.05)
    assert reply_to(client, "c1").status_code == 422
    assert reply_to(client, "c4").status_code == 200
    reply = {"id": "reply-to-c4", "text": "Source for that?"}  # accepted, so in the thread
    assert probe(client) == pytest.approx(expected_probe(make_client, tmp_path, [COMMENTS[3], reply]), abs=1e-6)


def test_an_article_keeps_at_most_its_cap_of_comments(make_client: MakeClient, tmp_path: Path) -> None:
    sent = [{"id": f"k{i}", "text": f"{COMMENTS[i % 4]['text']} ({i})"} for i in range(5)]
    with make_client(max_comments_per_article=3) as client:
        client.put(f"/articles/{BUDGET['id']}", json=STORED)
        classify(client, sent[:2])
        classify(client, sent[2:])
        assert known(client) == 3
        assert reply_to(client, "k0").status_code == 422  # the oldest went first
        assert reply_to(client, "k2").status_code == 200
        assert known(client) == 3
        scores = probe(client)
    assert scores == pytest.approx(expected_probe(make_client, tmp_path, [*sent[3:], {
        "id": "reply-to-k2", "text": "Source for that?"}]), abs=1e-6)


# -- deleting one comment -----------------------------------------------------------------------------------------
def test_delete_comment_removes_it_everywhere(make_client: MakeClient, tmp_path: Path) -> None:
    with make_client() as client:
        client.put(f"/articles/{BUDGET['id']}", json=STORED)
        classify(client, COMMENTS)
        assert client.delete(f"/comments/c1?article_id={BUDGET['id']}").status_code == 204
        assert known(client) == 3
        refused = reply_to(client, "c1")
        assert refused.status_code == 422 and "unknown parent 'c1'" in refused.json()["detail"]
        live = probe(client)
        again = client.delete(f"/comments/c1?article_id={BUDGET['id']}")
        assert (again.status_code, again.json()["field"]) == (404, "comment_id")
        assert client.delete("/comments/c2").json()["field"] == "article_id"  # which article: required
    with make_client() as restarted:
        assert known(restarted) == 3
        assert probe(restarted) == pytest.approx(live, abs=1e-6)
    assert live == pytest.approx(expected_probe(make_client, tmp_path, COMMENTS[1:]), abs=1e-6)


def test_a_comment_deleted_right_after_it_was_classified_stays_deleted(client: TestClient) -> None:
    client.put(f"/articles/{BUDGET['id']}", json=STORED)
    classify(client, COMMENTS[:1])  # its write may still be queued: the DELETE must come after it
    assert client.delete(f"/comments/c1?article_id={BUDGET['id']}").status_code == 204
    assert known(client) == 0
    assert reply_to(client, "c1").status_code == 422


# -- inline articles ---------------------------------------------------------------------------------------------
def database_bytes(path: Path) -> int:
    """The size of what is stored: the main file once the write-ahead log is folded into it."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def test_inline_articles_are_not_stored_unless_asked(make_client: MakeClient, tmp_path: Path) -> None:
    long_body = "The council met again on Tuesday night. " * 2_500  # 100 KB
    with make_client() as client:
        database = client.app.state.settings.database_path
        classify(client, COMMENTS[:1], article={**BUDGET, "body": long_body})
        start = database_bytes(database)
        for i in range(20):
            classify(client, COMMENTS[:1], article={**BUDGET, "id": f"inline-{i}", "body": long_body})
        client.app.state.service.store.flush()
        grown = database_bytes(database) - start
        assert client.get(f"/articles/{BUDGET['id']}").status_code == 404
        # The thread is remembered all the same: a reply sent with the article inline finds its parent.
        reply = {"id": "r1", "text": "Source for that?", "parent_id": "c1"}
        classify(client, [reply], article={**BUDGET, "body": long_body})
    assert grown < 20 * len(long_body) // 4, grown  # a fraction of the bodies: the comments, not the articles
    with make_client(store_inline_articles=True, database_path=tmp_path / "stored.sqlite3") as storing:
        classify(storing, COMMENTS[:1], article=BUDGET)
        stored = storing.get(f"/articles/{BUDGET['id']}").json()
        assert (stored["title"], stored["body"], stored["known_comments"]) == (BUDGET["title"], BUDGET["body"], 1)


# -- the database file ----------------------------------------------------------------------------------------
@contextmanager
def database_file_changed(make_client: MakeClient, change: Callable[[Path], None]) -> Iterator[Any]:
    with make_client() as client:
        assert client.get("/ready").status_code == 200
        database = client.app.state.settings.database_path
        change(database)
        yield client.get("/ready"), database


def test_ready_notices_a_deleted_database_file(make_client: MakeClient) -> None:
    with database_file_changed(make_client, lambda path: path.unlink()) as (answer, database):
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert "MODERATE_DATABASE_PATH is missing" in detail and str(database) not in detail


def test_ready_notices_a_replaced_database_file(make_client: MakeClient) -> None:
    def replace(path: Path) -> None:
        path.unlink()
        sqlite3.connect(path).close()
        path.write_bytes(b"")  # a new file where the old one was

    with database_file_changed(make_client, replace) as (answer, database):
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert "MODERATE_DATABASE_PATH was replaced" in detail and str(database) not in detail


# -- finding 7: old parents and edits ---------------------------------------------------------------------------
def test_a_reply_to_a_comment_older_than_the_5000_most_recent_finds_it(make_client: MakeClient) -> None:
    with make_client(max_comments=1_000) as client:
        client.put(f"/articles/{BUDGET['id']}", json=STORED)
        for start in range(0, 5_001, 1_000):
            classify(client, [{"id": f"o{i}", "text": f"{COMMENTS[i % 4]['text']} {i}"}
                              for i in range(start, min(start + 1_000, 5_001))])
        answer = reply_to(client, "o0")
        assert answer.status_code == 200, answer.text
    with make_client() as restarted:
        assert reply_to(restarted, "o1").status_code == 200


def test_a_known_id_sent_again_with_a_new_text_is_an_edit(make_client: MakeClient, tmp_path: Path) -> None:
    edited = {"id": "c4", "text": "Cutting library hours on Sundays hurts the families who need them most."}
    with make_client() as client:
        client.put(f"/articles/{BUDGET['id']}", json=STORED)
        classify(client, [*COMMENTS[:2], COMMENTS[3]])
        scored = classify(client, [edited])["results"][0]
        assert known(client) == 3
        live = probe(client)
    with make_client() as restarted:
        assert probe(restarted) == pytest.approx(live, abs=1e-6)
    with make_client(database_path=tmp_path / "before-the-edit.sqlite3") as before:
        before.put(f"/articles/{BUDGET['id']}", json=STORED)
        classify(before, COMMENTS[:2])
        # Scored on the new text, against the other comments of the thread (not its own old text)...
        unchanged = classify(before, [{**edited, "id": "x"}], remember=False)["results"][0]["scores"]
        assert scored["scores"] == pytest.approx(unchanged, abs=1e-6)
    # ...and the thread now holds the new text instead of the old one.
    assert live == pytest.approx(expected_probe(make_client, tmp_path, [*COMMENTS[:2], edited]), abs=1e-6)
