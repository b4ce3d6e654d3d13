"""`--workers N` gives the answers one worker gives (issue 15, finding 5).

Measured before the fix, with two workers: a reply whose parent the other worker had classified got 422
"unknown parent" in 27 of 40 tries; after a PUT on one worker the same comment was on_topic 1.0 there and
off_topic 0.67 on the other; after a DELETE the other worker kept answering for the deleted article. Each worker
kept its own article cache. Now what workers share lives in the database and every cached context is checked
against its article's version per request.

Two apps on one database file stand for two worker processes, with the setting `moderate serve --workers N`
gives them (`commit_before_answer`); the last test runs `moderate serve --workers 2` for real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BUDGET, COMMENTS
from tests.api.test_serve_command import wait_for
from tests.reliability.conftest import running_server

MakeClient = Callable[..., AbstractContextManager[TestClient]]
ARTICLE = {"id": BUDGET["id"]}
STORED = {"title": BUDGET["title"], "body": BUDGET["body"]}
MEASLES = {"title": "Measles cases rise to 40 in county outbreak",
           "body": "Officials opened free vaccination clinics and urged parents to check MMR doses."}
PROBE = {"id": "probe", "text": "Measles cases are rising, get the MMR vaccine."}


@pytest.fixture
def workers(make_client: MakeClient) -> Iterator[tuple[TestClient, TestClient]]:
    shared = {"commit_before_answer": True, "shared_database": True}  # what `--workers N` sets
    with make_client(**shared) as first, make_client(**shared) as second:
        assert first.put(f"/articles/{BUDGET['id']}", json=STORED).status_code == 201
        yield first, second


def classify(client: TestClient, comments: list[dict], remember: bool = True) -> dict:
    answer = client.post("/classify", json={"article": ARTICLE, "comments": comments, "remember": remember})
    assert answer.status_code == 200, answer.text
    return answer.json()


def probe(client: TestClient) -> dict[str, float]:
    return classify(client, [PROBE], remember=False)["results"][0]["scores"]


def test_a_reply_finds_a_parent_the_other_worker_classified(workers: tuple[TestClient, TestClient]) -> None:
    first, second = workers
    for i in range(10):
        parent_worker, reply_worker = (first, second) if i % 2 == 0 else (second, first)
        classify(parent_worker, [{"id": f"p{i}", "text": COMMENTS[i % 4]["text"]}])
        reply = reply_worker.post("/classify", json={"article": ARTICLE, "comments": [
            {"id": f"r{i}", "text": "Source for that?", "parent_id": f"p{i}"}]})
        assert reply.status_code == 200, (i, reply.text)


def test_the_thread_is_the_one_a_single_worker_would_have(workers: tuple[TestClient, TestClient],
                                                           make_client: MakeClient, tmp_path: Path) -> None:
    first, second = workers
    sent = [{"id": f"t{i}", "text": f"{COMMENTS[i % 4]['text']} ({i})"} for i in range(12)]
    for i, comment in enumerate(sent):
        classify((first, second)[i % 2], [comment])
    with make_client(database_path=tmp_path / "single.sqlite3") as single:
        single.put(f"/articles/{BUDGET['id']}", json=STORED)
        for comment in sent:
            classify(single, [comment])
        expected = probe(single)
    assert probe(first) == pytest.approx(expected, abs=1e-6)
    assert probe(second) == pytest.approx(expected, abs=1e-6)


def test_a_put_on_one_worker_is_seen_by_the_other_on_its_next_request(
    workers: tuple[TestClient, TestClient],
) -> None:
    first, second = workers
    classify(first, COMMENTS[:2])
    before = probe(second)  # the second worker has the article (and its thread) cached now
    assert first.put(f"/articles/{BUDGET['id']}", json=MEASLES).status_code == 200
    after = probe(second)
    assert after == pytest.approx(probe(first), abs=1e-6)
    assert after != pytest.approx(before, abs=1e-6)


def test_a_delete_on_one_worker_is_seen_by_the_other_on_its_next_request(
    workers: tuple[TestClient, TestClient],
) -> None:
    first, second = workers
    classify(second, COMMENTS[:2])
    probe(first)  # cached on both
    assert first.delete(f"/articles/{BUDGET['id']}").status_code == 204
    gone = second.post("/classify", json={"article": ARTICLE, "comments": [PROBE]})
    assert gone.status_code == 404, gone.text
    assert second.put(f"/articles/{BUDGET['id']}", json=STORED).status_code == 201
    reply = first.post("/classify", json={"article": ARTICLE, "comments": [
        {"id": "r1", "text": "Agreed.", "parent_id": "c1"}]})
    assert reply.status_code == 422 and "unknown parent 'c1'" in reply.json()["detail"]


def test_a_deleted_or_edited_comment_is_seen_by_the_other_worker(workers: tuple[TestClient, TestClient],
                                                                 make_client: MakeClient, tmp_path: Path) -> None:
    first, second = workers
    classify(first, COMMENTS)
    probe(second)
    assert first.delete(f"/comments/c1?article_id={BUDGET['id']}").status_code == 204
    refused = second.post("/classify", json={"article": ARTICLE, "comments": [
        {"id": "r1", "text": "Agreed.", "parent_id": "c1"}]})
    assert refused.status_code == 422, refused.text
    classify(second, [{"id": "c4", "text": MEASLES["body"]}])  # an edit of c4, sent to the other worker
    with make_client(database_path=tmp_path / "single.sqlite3") as single:
        single.put(f"/articles/{BUDGET['id']}", json=STORED)
        # The thread does not depend on parents: c3 without its deleted parent is the same comment in it.
        classify(single, [COMMENTS[1], {**COMMENTS[2], "parent_id": None}, {"id": "c4", "text": MEASLES["body"]}])
        expected = probe(single)
    assert probe(first) == pytest.approx(expected, abs=1e-6)
    assert probe(second) == pytest.approx(expected, abs=1e-6)


def test_moderate_serve_with_two_workers_answers_replies_across_them(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    with running_server(tiny_bundle_dir, tmp_path / "db.sqlite3", extra_args=("--workers", "2")) as (base, server):
        assert wait_for(f"{base}/ready", server).status_code == 200
        assert httpx.put(f"{base}/articles/{BUDGET['id']}", json=STORED, timeout=10).status_code == 201
        failures = []
        for i in range(20):  # a new connection per request: the kernel hands each to either worker
            with httpx.Client(base_url=base, timeout=10) as parent_client:
                parent_client.post("/classify", json={"article": ARTICLE, "comments": [
                    {"id": f"p{i}", "text": COMMENTS[i % 4]["text"]}]}).raise_for_status()
            with httpx.Client(base_url=base, timeout=10) as reply_client:
                reply = reply_client.post("/classify", json={"article": ARTICLE, "comments": [
                    {"id": f"r{i}", "text": "Source for that?", "parent_id": f"p{i}"}]})
            if reply.status_code != 200:
                failures.append((i, reply.status_code, reply.text))
        assert failures == []
