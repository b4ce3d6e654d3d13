"""The worker processes of a batch-scoring job (`batch.job`), startable before the job imports the model.

A spawned worker starts from nothing: it imports scikit-learn, SciPy and the model code and loads the bundle,
about 1.5 s of CPU. `start_workers` is meant to be called before the job process imports any of that itself, so
that the two start-ups run side by side on two cores instead of one after the other. This module therefore
imports only the standard library at the top; everything else is imported inside the worker.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batch.scorer import ChunkScorer, CommentBatch, ScoredBatch
    from batch.threads import ArticleThreads

_scorer: ChunkScorer | None = None  # one per worker process, set by _start
_start_error: BaseException | None = None


def start_workers(model_path: Path, workers: int) -> ProcessPoolExecutor:
    """`workers` worker processes that each load the bundle at `model_path`, started now (a pool otherwise
    starts a process only when it is first given work). Shut the pool down when done."""
    # spawn, not fork: the job process runs Arrow's thread pool, which a forked child would inherit half-copied.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(str(model_path), os.getpid()))
    for _ in range(workers):
        pool.submit(_started)
    return pool


def score(batch: CommentBatch) -> ScoredBatch:
    """Score one batch in a worker process (the task of the job's second pass)."""
    from batch.scorer import score_safely

    return score_safely(_loaded(), batch)


def thread_part(batch: CommentBatch) -> ArticleThreads:
    """One batch's share of its articles' threads, in a worker process (the task of the job's first pass)."""
    from batch.scorer import thread_part_safely

    return thread_part_safely(_loaded(), batch)


def _loaded() -> ChunkScorer:
    if _scorer is None:
        raise RuntimeError("the worker could not load the model") from _start_error
    return _scorer


def keep_freed_memory(threshold: int = 64 << 20) -> None:
    """Ask glibc to keep freed memory for reuse instead of handing it back to the kernel after every chunk.

    Scoring a chunk allocates and frees the same few hundred MiB of numpy arrays every time; by default glibc
    maps large blocks afresh and unmaps them when freed, so each chunk page-faults its memory in again: about
    1.5 s of system time per million rows. Peak memory is unchanged (the same blocks are reused). Arrow's
    buffers are asked the same of jemalloc, with its decay off (freed pages kept for reuse): Arrow's default,
    mimalloc, hands them back and faults them in again (about 0.6 s more CPU per million rows, most of it system
    time), and glibc's malloc for Arrow kept the job fast but let it grow (1,026 MiB at 1,000,000 rows, 1,169 MiB
    at 10,000,000, against 990 MiB with jemalloc). Does nothing where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, threshold)
    mallopt(m_trim_threshold, threshold)
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(-1)
    except (NotImplementedError, pa.ArrowException):  # a pyarrow built without jemalloc keeps its default
        pass


def one_blas_thread() -> None:
    """Let BLAS (numpy's matrix products) use one thread in this process.

    A job already runs one scoring process per core. A chunk's dense products are small (20,000 comments by a
    few dozen columns), and OpenBLAS's own threads spun on the other core for each of them: 29.6 s of CPU per
    million rows in one process with them, 20.7 s without, the same output (docs/benchmarks.md, fifth round).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _start(model_path: str, parent: int) -> None:
    global _scorer, _start_error
    _exit_with_parent(parent)
    keep_freed_memory()
    try:
        import pyarrow as pa

        from batch.scorer import ChunkScorer
        from model.bundle import ModelBundle

        pa.set_cpu_count(1)  # one process per core already; Arrow's own threads would only compete
        one_blas_thread()
        _scorer = ChunkScorer(ModelBundle.load(model_path))
    except Exception as error:  # the job loads the same bundle itself and reports why it cannot
        _start_error = error


def _started() -> None:
    """A task that does nothing: submitting it makes the pool start a process."""


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """End this worker once the job process is gone.

    A job killed with SIGKILL cannot shut its pool down, and its idle workers would otherwise wait for work for
    ever, each holding a loaded model (found by tests/reliability: they outlived the job indefinitely).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-job", daemon=True).start()
