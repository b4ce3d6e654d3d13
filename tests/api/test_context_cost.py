"""No request costs work proportional to what other requests stored (issue 15, finding 3).

Measured before the fix: an inline article whose body differed from the stored one rebuilt the context by
re-analysing up to 5,000 stored comments under one lock per model (33.7 and 38.1 s for a one-comment request,
and a request for another article waited 38 s); so did a restart, a reload and churn of the context cache. Now
a context is rebuilt from the vectors and sums stored when each comment was written; only the article's own
vectors are computed again. These tests watch every text the model analyses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.thread_store import BACKFILL_MAX_COMMENTS
from model.bundle import ModelBundle
from tests.api.conftest import BUDGET

MakeClient = Callable[..., AbstractContextManager[TestClient]]
MARK = "zqstored"  # in every stored comment's text, so that an analysis of one is recognised
STORED = [{"id": f"s{i}", "text": f"Property taxes and library hours again, point {i} {MARK}{i}"} for i in range(400)]
PROBE = {"id": "probe", "text": "The council should publish the pension costs before the vote."}
BODY_B = "The mayor vetoed the budget on Wednesday, citing the cuts to library hours and the police hires."


class Analysed:
    """Every text the service's model analyses from now on: comments it classifies, texts it vectorises."""

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        bundle = client.app.state.service.model.bundle
        classify_many = bundle.classify_many

        def counting_classify_many(jobs: Any, **options: Any) -> Any:
            jobs = [(context, list(comments)) for context, comments in jobs]
            self.texts += [comment.text for _, comments in jobs for comment in comments]
            return classify_many(jobs, **options)

        features = bundle.pipeline.named_steps["features"]
        vectorize = features.vectorize

        def counting_vectorize(texts: list[str]) -> Any:
            self.texts += list(texts)
            return vectorize(texts)

        monkeypatch.setattr(bundle, "classify_many", counting_classify_many)
        monkeypatch.setattr(features, "vectorize", counting_vectorize)

    @property
    def stored(self) -> int:
        """How many analysed texts were comments that earlier requests stored."""
        return sum(MARK in text.lower() for text in self.texts)


def classify(client: TestClient, article: dict, comments: list[dict], remember: bool = True) -> dict:
    answer = client.post("/classify", json={"article": article, "comments": comments, "remember": remember})
    assert answer.status_code == 200, answer.text
    return answer.json()


def probe_scores(client: TestClient, article: dict) -> dict[str, float]:
    return classify(client, article, [PROBE], remember=False)["results"][0]["scores"]


def test_a_restart_rebuilds_the_thread_without_analysing_a_stored_comment(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(max_comments=500) as first:
        first.put(f"/articles/{BUDGET['id']}", json={"title": BUDGET["title"], "body": BUDGET["body"]})
        classify(first, {"id": BUDGET["id"]}, STORED)
        live = probe_scores(first, {"id": BUDGET["id"]})
    with make_client() as restarted:
        analysed = Analysed(restarted, monkeypatch)
        rebuilt = probe_scores(restarted, {"id": BUDGET["id"]})
    assert analysed.stored == 0
    assert analysed.texts.count(PROBE["text"]) == 1
    assert rebuilt == pytest.approx(live, abs=1e-6)  # the same thread: 400 comments, from their stored vectors


def test_an_inline_body_that_changes_keeps_the_thread_and_analyses_the_article_only(
    client: TestClient, make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = BUDGET, {**BUDGET, "body": BODY_B}
    classify(client, first, STORED[:200])
    analysed = Analysed(client, monkeypatch)
    answers = [probe_scores(client, article) for article in (second, first, second, first, second)]
    assert analysed.stored == 0
    # Each switch analysed the probe and at most the new title and body: nothing that others stored.
    assert len(analysed.texts) <= 5 * 3
    with make_client(database_path=tmp_path / "fresh.sqlite3") as fresh:  # one service that only saw BODY_B
        classify(fresh, second, STORED[:200])
        expected = probe_scores(fresh, second)
    assert answers[0] == pytest.approx(expected, abs=1e-6)
    assert answers[4] == pytest.approx(expected, abs=1e-6)
    assert answers[1] != pytest.approx(expected, abs=1e-6)


def test_churning_the_context_cache_analyses_no_stored_comment(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {**BUDGET, "id": "other", "body": BODY_B}
    with make_client(context_cache_size=1) as client:
        classify(client, BUDGET, STORED[:150])
        classify(client, other, STORED[150:300])
        before = [probe_scores(client, article) for article in (BUDGET, other)]
        analysed = Analysed(client, monkeypatch)
        for _ in range(3):  # each request evicts the other article's context
            after = [probe_scores(client, article) for article in (BUDGET, other)]
    assert analysed.stored == 0
    assert after == [pytest.approx(scores, abs=1e-6) for scores in before]


def save_copy(bundle_dir: Path, folder: Path, version: str, idf_factor: float = 1.0) -> None:
    """The bundle again under another version, its IDF scaled (1.0: the same vectoriser, as a re-export)."""
    bundle = ModelBundle.load(bundle_dir)
    features = bundle.pipeline.named_steps["features"]
    features.idf_ = features.idf_ * idf_factor
    ModelBundle(pipeline=bundle.pipeline, labels=bundle.labels, thresholds=bundle.thresholds,
                metadata={**bundle.metadata, "version": version}).save(folder)


def test_after_a_reload_of_the_same_vectoriser_nothing_is_analysed_again(
    make_client: MakeClient, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(max_comments=500) as client:
        classify(client, BUDGET, STORED)
        before = probe_scores(client, BUDGET)
        save_copy(model_dir, model_dir, "same-vectoriser")
        assert client.post("/admin/reload").status_code == 200
        analysed = Analysed(client, monkeypatch)
        after = probe_scores(client, BUDGET)
    assert analysed.stored == 0
    assert after == pytest.approx(before, abs=1e-6)


def test_a_model_with_another_idf_analyses_a_bounded_number_of_stored_comments_once(
    make_client: MakeClient, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(max_comments=500) as client:
        classify(client, BUDGET, STORED)
        save_copy(model_dir, model_dir, "another-idf", idf_factor=1.5)
        assert client.post("/admin/reload").status_code == 200
        analysed = Analysed(client, monkeypatch)
        probe_scores(client, BUDGET)
        first = analysed.stored
        client.post("/admin/reload")  # its contexts are dropped; the vectors it computed are stored
        analysed = Analysed(client, monkeypatch)
        probe_scores(client, BUDGET)
    assert 0 < first <= BACKFILL_MAX_COMMENTS < len(STORED)
    assert analysed.stored == 0


def test_a_request_for_another_article_does_not_wait_for_a_context_being_built(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = client.app.state.service.model.bundle
    article_context = bundle.article_context
    entered, opened = threading.Event(), threading.Event()

    def slow_once(article: Any) -> Any:  # the first build (article "slow") holds until the test says so
        if article.id == "slow" and not entered.is_set():
            entered.set()
            assert opened.wait(timeout=30)
        return article_context(article)

    monkeypatch.setattr(bundle, "article_context", slow_once)
    answers: dict[str, int] = {}

    def send(article_id: str) -> None:
        article = {**BUDGET, "id": article_id}
        answers[article_id] = client.post("/classify", json={"article": article, "comments": [PROBE]}).status_code

    slow = threading.Thread(target=send, args=("slow",))
    slow.start()
    try:
        assert entered.wait(timeout=30)
        other = threading.Thread(target=send, args=("other",))
        other.start()
        other.join(timeout=10)
        assert answers.get("other") == 200, "a request for another article waited for the build of 'slow'"
    finally:
        opened.set()
        slow.join(timeout=30)
    assert answers["slow"] == 200
