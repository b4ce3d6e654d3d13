"""The micro-batcher: concurrent /classify requests become one model call.

A model call has a fixed cost (the thread and parent look-ups, the softmax, the reasons) that is several times
the cost of one more comment, so eight single-comment requests that arrive together are answered by one call of
eight comments. Everything waiting is grouped by model and `remember`, and every article's mergeable requests
are answered by one `ModelBundle.classify_many` call (each article keeps its own thread in it); each request
gets its results already encoded as JSON.

Where the call runs depends on its size. Small requests (up to `inline_max_comments`, the comment-posting path)
are batched on the event loop itself: each one joins a list, and one callback scheduled behind them runs the
call once the loop has had two turns in a row without a new request joining (a turn is one poll of the
sockets, tens of microseconds), or eight turns at most. Running at once gave batches of 1-3 requests at
concurrency 8 and 1,850 requests/s; waiting two turns gave 7.5 requests and 3,000 requests/s. A batch of
small requests costs about a millisecond, less than handing it to a thread and back (the GIL moves twice, and
a woken thread must wait for it). Larger requests go to one classifier thread, so a 256-comment request never
holds up the loop.

Batching must not change what a request means. A request is merged with others only when it joins the
article's thread anyway (`remember`), its comment ids do not collide with theirs, and each of its parents is in
the request itself or already known, so a request never sees a parent that another, concurrent request happens
to send, and a `remember: false` request is never influenced by another's comments. If a merged call still
fails (a text that is empty once normalised), each request of the group is retried alone, so the error names
that request's field.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from model.bundle import ModelBundle
from model.context import ArticleContext
from model.types import Classification, Comment

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One request's share of a batch."""

    bundle: ModelBundle
    version: str
    context: ArticleContext
    comments: list[Comment]
    remember: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bytes]
    ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = frozenset(c.id for c in self.comments)


#: Called in the classifier thread with each request's context and results, e.g. to store and count them.
ResultsHook = Callable[[Job, list[Classification]], None]
#: Called with the number of comments and the seconds of each model call.
BatchHook = Callable[[int, float], None]


class MicroBatcher:
    """One classifier thread fed by a queue; `submit` is awaited from the event loop."""

    def __init__(self, *, max_comments: int, on_results: ResultsHook | None = None,
                 on_batch: BatchHook | None = None, inline_max_comments: int = 16,
                 inline_batch_comments: int = 128, inline_turns: int = 8,
                 inline_quiet_turns: int = 2) -> None:
        self.max_comments = max_comments
        self.on_results = on_results
        self.on_batch = on_batch
        self.inline_max_comments = inline_max_comments
        self.inline_batch_comments = inline_batch_comments
        self.inline_turns = inline_turns
        self.inline_quiet_turns = inline_quiet_turns
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._carry: Job | None = None
        self._waiting: dict[asyncio.AbstractEventLoop, list[Job]] = {}  # small requests, per event loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="classifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Answer everything queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60.0)
            self._thread = None

    async def submit(self, bundle: ModelBundle, version: str, context: ArticleContext,
                     comments: list[Comment], remember: bool) -> bytes:
        """The JSON body of the /classify answer for these comments; raises ClassifyError like `classify`."""
        loop = asyncio.get_running_loop()
        job = Job(bundle=bundle, version=version, context=context, comments=comments, remember=remember,
                  loop=loop, future=loop.create_future())
        if len(comments) <= self.inline_max_comments:
            waiting = self._waiting.setdefault(loop, [])
            waiting.append(job)
            if len(waiting) == 1:  # the first one schedules the call, behind the requests already ready to run
                loop.call_soon(self._run_inline, loop, self.inline_turns)
        else:
            self._queue.put(job)
        return await job.future

    # -- on the event loop --------------------------------------------------------------------------------------
    def _run_inline(self, loop: asyncio.AbstractEventLoop, turns: int = 0, seen: int = 0,
                    quiet: int = 0) -> None:
        waiting = self._waiting.get(loop, [])
        # Wait while requests keep joining: run the call once `inline_quiet_turns` turns in a row brought no
        # new request, after `inline_turns` turns at most, or as soon as the batch is full.
        quiet = 0 if len(waiting) != seen else quiet + 1
        if (turns > 0 and quiet < self.inline_quiet_turns
                and sum(len(job.comments) for job in waiting) < self.inline_batch_comments):
            loop.call_soon(self._run_inline, loop, turns - 1, len(waiting), quiet)
            return
        jobs: list[Job] = []
        total = 0
        limit = min(self.inline_batch_comments, self.max_comments)
        while waiting and (not jobs or total + len(waiting[0].comments) <= limit):
            job = waiting.pop(0)
            jobs.append(job)
            total += len(job.comments)
        if waiting:  # more than one batch arrived at once: the rest after the loop has had a turn
            loop.call_soon(self._run_inline, loop)
        if jobs:
            _deliver(self._answer(jobs))

    # -- the classifier thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._carry or self._queue.get()
            self._carry = None
            if first is None:
                return
            jobs, total, stop = [first], len(first.comments), False
            while total < self.max_comments:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if total + len(job.comments) > self.max_comments:
                    self._carry = job
                    break
                jobs.append(job)
                total += len(job.comments)
            self._process(jobs)
            if stop:
                if self._carry is not None:
                    self._process([self._carry])
                return

    def _process(self, jobs: list[Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, bytes | BaseException]]] = {}
        for job, answer in self._answer(jobs):
            by_loop.setdefault(job.loop, []).append((job, answer))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_deliver, items)

    def _answer(self, jobs: list[Job]) -> list[tuple[Job, bytes | BaseException]]:
        groups: dict[tuple[int, bool], list[Job]] = {}
        for job in jobs:
            groups.setdefault((id(job.bundle), job.remember), []).append(job)
        answers: list[tuple[Job, bytes | BaseException]] = []
        for group in groups.values():
            try:
                answers.extend(self._classify_group(group))
            except Exception as error:  # a bug of ours: answer these requests (500) and keep serving
                logger.exception("classifier failed on a batch")
                answers.extend((job, error) for job in group)
        return answers

    def _classify_group(self, group: list[Job]) -> list[tuple[Job, bytes | BaseException]]:
        """One model and one `remember` setting: mergeable requests of every article share one call."""
        merged: dict[int, list[Job]] = {}
        seen: dict[int, set[str]] = {}
        alone: list[Job] = []
        for job in group:
            context = job.context
            ids = seen.setdefault(id(context), set())
            # Comments of one article in one call are each other's thread: only comments that join the thread
            # anyway (remember) may share a call with another request's under the same article.
            if job.remember and ids.isdisjoint(job.ids) and all(
                c.parent_id is None or c.parent_id in job.ids or context.knows(c.parent_id) for c in job.comments
            ):
                merged.setdefault(id(context), []).append(job)
                ids |= job.ids
            else:
                alone.append(job)
        answers: list[tuple[Job, bytes | BaseException]] = []
        sets = list(merged.values())
        if sum(len(jobs) for jobs in sets) > 1:
            try:
                per_set = self._call_many(sets)
            except Exception:  # e.g. a text that is empty once normalised: each request on its own says which
                alone = [job for jobs in sets for job in jobs] + alone
            else:
                for jobs, results in zip(sets, per_set, strict=True):
                    start = 0
                    for job in jobs:
                        answers.append((job, self._finish(job, results[start:start + len(job.comments)])))
                        start += len(job.comments)
        else:
            alone = [job for jobs in sets for job in jobs] + alone
        for job in alone:
            try:
                answers.append((job, self._finish(job, self._call_many([[job]])[0])))
            except Exception as error:  # delivered to the request; ClassifyError becomes a 422 there
                answers.append((job, error))
        return answers

    def _call_many(self, sets: list[list[Job]]) -> list[list[Classification]]:
        """One classify_many call; each set is one article's jobs, their comments in order."""
        start = time.perf_counter()
        first = sets[0][0]
        requests = [(jobs[0].context, [c for job in jobs for c in job.comments]) for jobs in sets]
        results = first.bundle.classify_many(requests, explain=True, remember=first.remember)
        if self.on_batch is not None:
            self.on_batch(sum(len(comments) for _, comments in requests), time.perf_counter() - start)
        return results

    def _finish(self, job: Job, results: list[Classification]) -> bytes:
        if self.on_results is not None:
            try:
                self.on_results(job, results)
            except Exception:  # storing or counting must never cost the client its answer
                logger.exception("results hook failed")
        return encode_results(job.version, results)


def encode_results(version: str, results: list[Classification]) -> bytes:
    """The /classify response body (`schemas.ClassifyResponse`), encoded once in the classifier thread."""
    return json.dumps(
        {
            "model_version": version,
            "results": [
                {"id": r.id, "label": r.label, "scores": r.scores, "action": r.action, "reasons": r.reasons}
                for r in results
            ],
        },
        separators=(",", ":"),  # ASCII-escaped: ids may hold lone surrogates, which UTF-8 cannot encode
    ).encode("ascii")


def _deliver(items: list[tuple[Job, bytes | BaseException]]) -> None:
    for job, answer in items:
        if job.future.done():  # the request was cancelled (client went away)
            continue
        if isinstance(answer, BaseException):
            job.future.set_exception(answer)
        else:
            job.future.set_result(answer)
