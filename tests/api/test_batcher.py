"""The micro-batcher: requests queued together share one model call without changing what each one means."""

from __future__ import annotations

import asyncio
import json

import pytest

from api.batcher import MicroBatcher
from model.bundle import ModelBundle
from model.errors import ClassifyError
from model.types import Article, Comment

ARTICLE = Article("budget", "Council passes city budget after long night",
                  "The council voted to raise property taxes and cut library hours on Sundays.")
TEXTS = ["Property taxes up again, the council never listens.", "Earn 500 dollars a day, message me now",
         "Library hours on Sundays matter to families.", "What a derby on Saturday!"]


@pytest.fixture(params=["on the event loop", "in the classifier thread"])
def batcher_options(request: pytest.FixtureRequest) -> dict[str, int]:
    """Every behaviour holds for both places a batch can run: small requests on the loop, large in the thread."""
    return {"inline_max_comments": 16} if request.param == "on the event loop" else {"inline_max_comments": 0}


def requests_of(prefix: str, sizes: list[int]) -> list[list[Comment]]:
    return [[Comment(f"{prefix}{n}-{i}", TEXTS[(n + i) % 4]) for i in range(size)] for n, size in enumerate(sizes)]


async def submit_together(batcher: MicroBatcher, bundle: ModelBundle, context: object,
                          requests: list[list[Comment]], remember: bool = True) -> list[object]:
    """Queue every request before the classifier thread starts, so they are all in its first batch."""
    tasks = [asyncio.ensure_future(batcher.submit(bundle, bundle.version, context, comments, remember))
             for comments in requests]
    await asyncio.sleep(0.05)
    batcher.start()
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        batcher.stop()


def test_requests_queued_together_are_one_model_call_with_the_same_answers(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    calls: list[int] = []
    batcher = MicroBatcher(max_comments=64, on_batch=lambda n, _: calls.append(n), **batcher_options)
    requests = requests_of("a", [1, 3, 2])
    answers = asyncio.run(submit_together(batcher, tiny_bundle, tiny_bundle.article_context(ARTICLE), requests))
    assert calls == [6]
    expected = tiny_bundle.classify(ARTICLE, [c for r in requests for c in r])
    results = [r for answer in answers for r in json.loads(answer)["results"]]
    assert [r["id"] for r in results] == [e.id for e in expected]
    assert [r["scores"] for r in results] == [pytest.approx(e.scores, abs=1e-6) for e in expected]
    assert [r["reasons"] for r in results] == [e.reasons for e in expected]


def test_a_bad_request_fails_alone_and_names_its_own_field(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    batcher = MicroBatcher(max_comments=64, **batcher_options)
    good = requests_of("g", [2, 1])
    bad = [Comment("b0", "Fine text"), Comment("b1", "\u200b \u200b")]  # empty once normalised
    orphan = [Comment("o0", "Agreed.", parent_id="g0-0")]  # a parent sent by another request is not visible
    answers = asyncio.run(submit_together(batcher, tiny_bundle, tiny_bundle.article_context(ARTICLE),
                                          [good[0], bad, good[1], orphan]))
    assert isinstance(answers[1], ClassifyError)
    assert answers[1].field == "comments[1].text"
    assert [r["id"] for r in json.loads(answers[0])["results"]] == ["g0-0", "g0-1"]
    assert [r["id"] for r in json.loads(answers[2])["results"]] == ["g1-0"]
    # The orphan's parent was classified (and remembered) before it, so it is answered, as if sent after it.
    assert json.loads(answers[3])["results"][0]["id"] == "o0"


def test_requests_that_do_not_join_the_thread_are_not_merged(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    calls: list[int] = []
    batcher = MicroBatcher(max_comments=64, on_batch=lambda n, _: calls.append(n), **batcher_options)
    requests = requests_of("n", [1, 2])
    answers = asyncio.run(submit_together(batcher, tiny_bundle, tiny_bundle.article_context(ARTICLE), requests,
                                          remember=False))
    assert calls == [1, 2]
    for answer, comments in zip(answers, requests, strict=True):
        alone = tiny_bundle.classify(ARTICLE, comments)
        assert [r["scores"] for r in json.loads(answer)["results"]] == [
            pytest.approx(e.scores, abs=1e-6) for e in alone]


def test_batches_respect_the_comment_limit(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    calls: list[int] = []
    batcher = MicroBatcher(max_comments=4, on_batch=lambda n, _: calls.append(n), **batcher_options)
    answers = asyncio.run(submit_together(batcher, tiny_bundle, tiny_bundle.article_context(ARTICLE),
                                          requests_of("l", [3, 3, 1, 6])))
    assert all(isinstance(a, bytes) for a in answers)
    assert calls == [3, 4, 6]  # a single request larger than the limit is still answered, alone


class FailingBundle:
    """Stands in for a bundle whose classify hits a bug on one text (an injected seam, not a mock of ours)."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.version = bundle.version

    def classify_many(self, jobs: list[tuple[object, list[Comment]]], **options: object) -> object:
        if any(c.text == "boom" for _, comments in jobs for c in comments):
            raise RuntimeError("a bug in the model")
        return self.bundle.classify_many(jobs, **options)  # type: ignore[arg-type]


def test_an_unexpected_error_answers_that_request_and_the_batcher_keeps_going(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    batcher = MicroBatcher(max_comments=64, **batcher_options)
    failing = FailingBundle(tiny_bundle)
    context = tiny_bundle.article_context(ARTICLE)

    async def scenario() -> tuple[list[object], bytes]:
        first = await submit_together(batcher, failing, context, [[Comment("f1", "boom")], [Comment("f2", "fine")]])
        batcher.start()
        try:
            later = await batcher.submit(failing, "v", context, [Comment("f3", "still fine")], True)
        finally:
            batcher.stop()
        return first, later

    (broken, fine), later = asyncio.run(scenario())
    assert isinstance(broken, RuntimeError)
    assert json.loads(fine)["results"][0]["id"] == "f2"
    assert json.loads(later)["results"][0]["id"] == "f3"


def test_requests_under_different_articles_share_one_call_and_keep_their_own_threads(
    tiny_bundle: ModelBundle, batcher_options: dict[str, int],
) -> None:
    derby = Article("derby", "United beat City 2-1 in late derby drama", "A stoppage-time header won the derby.")
    calls: list[int] = []
    batcher = MicroBatcher(max_comments=64, on_batch=lambda n, _: calls.append(n), **batcher_options)
    contexts = [tiny_bundle.article_context(ARTICLE), tiny_bundle.article_context(derby)]
    requests = [[Comment("b1", TEXTS[0]), Comment("b2", TEXTS[3])], [Comment("d1", TEXTS[3])]]

    async def scenario() -> list[object]:
        tasks = [asyncio.ensure_future(batcher.submit(tiny_bundle, tiny_bundle.version, ctx, comments, True))
                 for ctx, comments in zip(contexts, requests, strict=True)]
        await asyncio.sleep(0.05)
        batcher.start()
        try:
            return await asyncio.gather(*tasks)
        finally:
            batcher.stop()

    answers = asyncio.run(scenario())
    assert calls == [3]  # one model call for both articles
    for article, comments, answer in zip((ARTICLE, derby), requests, answers, strict=True):
        alone = tiny_bundle.classify(article, comments)
        got = json.loads(answer)["results"]  # type: ignore[arg-type]
        assert [r["scores"] for r in got] == [pytest.approx(e.scores, abs=1e-6) for e in alone]
    # the same text scores differently under the two articles: each request kept its own article
    assert json.loads(answers[0])["results"][1]["scores"] != json.loads(answers[1])["results"][0]["scores"]  # type: ignore[arg-type]
