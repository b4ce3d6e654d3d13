"""Score a batch of comments from a dump with a bundle: one output row per input row, in order, always.

A row that cannot be scored is not dropped and does not stop the batch: it gets no label and its reason in
`error` (the reader's reason for a broken line, or "empty text", "missing article id", "unknown article 'x'").
Every other row is scored exactly as `ModelBundle.score_frame` scores it, through the bundle's own public seams
(`CommentContextFeatures.transform_batch`, `ModelBundle.scores_from_features`, `ModelBundle.actions`), with two
things done faster for large batches:

- the comment texts are normalised and hashed for the whole batch at once (`model.fast.batch_terms`, identical
  numbers to the per-comment path, checked by the tests);
- an article's title and body are vectorised once per scorer, not once per batch (a small cache by content).

The context of a comment in a batch:
- its *thread* is the other scorable comments of its article: those of the batch, plus, when the batch brings
  `threads` (the whole input's, `batch.threads`), every comment of the article outside the batch. A job always
  brings them, so a comment's thread is its article's comments in the whole dump, however the dump is cut;
  without them the batch is taken as the whole thread, as `score_frame` and `POST /classify` take theirs.
- its *parent* is found by (article, comment_id) among the batch's scorable comments; a parent outside the batch
  is used when the caller passes its text in `parent_texts` (`batch.parents` finds them anywhere in a dump). A
  reply whose parent is in neither is scored as a top-level comment and counted as "parent not found".
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from batch.readers.base import Problem
from batch.terms_file import load_terms, save_terms
from batch.threads import ArticleThreads
from model.bundle import ModelBundle
from model.errors import ModerationError
from model.fast.batch_terms import as_text_array, normalize_batch, supports, word_counts
from model.features import CommentContextFeatures, ContextBatch
from model.labels import LABELS
from model.linking import link_parents_arrow
from model.text import normalize_text
from model.types import Article
from model.weighting import weigh_rows

#: Columns scoring adds to every input row, in this order.
SCORE_COLUMNS: tuple[str, ...] = ("label", *(f"score_{label}" for label in LABELS), "action", "error")
SCORE_SCHEMA = pa.schema(
    [("label", pa.string()), *((f"score_{label}", pa.float64()) for label in LABELS),
     ("action", pa.string()), ("error", pa.string())]
)

#: Kinds of rows that cannot be scored (the summary counts rows by kind; `error` holds the full message).
EMPTY_TEXT = "empty text"
MISSING_ARTICLE = "missing article id"
UNKNOWN_ARTICLE = "unknown article"
SCORING_FAILED = "scoring failed"

#: Scores are rounded like the API's, so every output format and engine writes the same numbers.
SCORE_DECIMALS = 6


@dataclass
class CommentBatch:
    """The columns scoring reads, one entry per input row, plus the articles those rows may name.

    `problems[i]` is set when the reader could not read row i (it is then not scored). `parent_texts[i]` is the
    text of row i's parent when that parent is outside the batch (None otherwise). `threads`, when given, holds
    the whole threads of (at least) the batch's articles, this batch's comments included. `save_terms` asks
    `thread_part` to write the batch's normalised texts and term counts to that file, and `saved_terms` lets
    `score` read them from it instead of computing them again (`batch.terms_file`).
    """

    texts: pa.Array
    article_ids: pa.Array
    articles: Mapping[str, Article]
    comment_ids: pa.Array | None = None
    parent_ids: pa.Array | None = None
    parent_texts: pa.Array | None = None
    problems: Sequence[Problem | None] | None = None
    threads: ArticleThreads | None = None
    save_terms: Path | None = None
    saved_terms: Path | None = None

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Counts:
    """Rows by label, action and problem kind, and replies whose parent was not found; added up over batches."""

    rows: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    parents_not_found: int = 0

    def add(self, other: Counts) -> None:
        self.rows += other.rows
        self.labels.update(other.labels)
        self.actions.update(other.actions)
        self.errors.update(other.errors)
        self.parents_not_found += other.parents_not_found

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "labels": dict(self.labels), "actions": dict(self.actions),
                "errors": dict(self.errors), "parents_not_found": self.parents_not_found}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        return cls(int(data["rows"]), Counter(data.get("labels", {})), Counter(data.get("actions", {})),
                   Counter(data.get("errors", {})), int(data.get("parents_not_found", 0)))


@dataclass
class ScoredBatch:
    """The SCORE_COLUMNS of a batch, one row per input row, and its counts."""

    table: pa.Table
    counts: Counts


class _Scorable(NamedTuple):
    problems: list[Problem | None]  # every row's problem, None where it is scored
    rows: np.ndarray  # the rows scored
    texts: pa.Array  # their normalised texts
    article_ids: pa.Array  # their article ids
    normalized: pa.Array  # the normalised texts of every row


class ChunkScorer:
    """Scores CommentBatches with one bundle; keeps the vectors of the articles it saw most recently.

    Not thread-safe (the article cache is a plain dict): use one scorer per process or thread.
    """

    def __init__(self, bundle: ModelBundle, *, article_cache_size: int = 4096) -> None:
        self.bundle = bundle
        features = bundle.pipeline.named_steps["features"]
        if not isinstance(features, CommentContextFeatures):  # ModelBundle checks this too; keep mypy informed
            raise TypeError("the bundle's pipeline must start with CommentContextFeatures")
        self._features = features
        self._fast = supports(features.hasher_)
        self._article_cache_size = article_cache_size
        self._article_vectors: OrderedDict[tuple[str, str, str], tuple[sp.csr_matrix, sp.csr_matrix]] = OrderedDict()

    @property
    def width(self) -> int:
        """Hash buckets of the comment vectors (the width of every thread sum)."""
        return len(self._features.idf_)

    def score(self, batch: CommentBatch) -> ScoredBatch:
        """SCORE_COLUMNS for every row of `batch`, in order; rows that cannot be scored get `error`."""
        n = len(batch)
        saved = None
        if batch.saved_terms is not None and batch.saved_terms.exists():
            saved = load_terms(batch.saved_terms)
        scorable = self._scorable(batch, saved[0] if saved is not None else None)
        rows = scorable.rows
        if saved is not None and saved[1].shape[0] != len(rows):
            saved = None  # not this batch's (cannot happen within a job): compute them again
        scores = np.full((n, len(LABELS)), np.nan)
        labels = np.full(n, None, dtype=object)
        actions = np.full(n, None, dtype=object)
        parents_not_found = 0
        if len(rows):
            probabilities, parents_not_found = self._probabilities(batch, scorable, saved)
            predicted = np.argmax(probabilities, axis=1)
            labels[rows] = np.asarray(self.bundle.labels, dtype=object)[predicted]
            actions[rows] = self.bundle.actions(probabilities)
            for j, label in enumerate(self.bundle.labels):
                if label in LABELS:
                    scores[rows, LABELS.index(label)] = np.round(probabilities[:, j], SCORE_DECIMALS)
        scored = _scored(labels, scores, actions, scorable.problems)
        scored.counts.parents_not_found = parents_not_found
        return scored

    def thread_part(self, batch: CommentBatch) -> ArticleThreads:
        """The batch's share of its articles' threads: the same comments, vectors and sums that `score` uses.

        With `batch.save_terms`, the normalised texts and term counts are also written there for `score`.
        """
        scorable = self._scorable(batch)
        if not len(scorable.rows):
            return ArticleThreads.empty(self.width)
        counts = word_counts(scorable.texts, self._features.hasher_) if self._fast else None
        saving = counts.copy() if counts is not None and batch.save_terms is not None else None
        comments, _ = self._vectorize(scorable.texts) if counts is None else self._weighed(counts)
        encoded = pc.dictionary_encode(scorable.article_ids)
        groups = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        part = ArticleThreads.of_batch(encoded.dictionary.to_pylist(), comments, groups)
        if saving is not None and batch.save_terms is not None:
            save_terms(batch.save_terms, scorable.normalized, saving)
        return part

    # -- internals ----------------------------------------------------------------------------------------
    def _scorable(self, batch: CommentBatch, normalized: pa.Array | None = None) -> _Scorable:
        """Which rows are scored, and their normalised texts (`normalized`: those of every row, if known)."""
        n = len(batch)
        problems: list[Problem | None] = list(batch.problems) if batch.problems is not None else [None] * n
        if len(problems) != n:
            raise ValueError(f"CommentBatch: {len(problems)} problems for {n} rows")
        if normalized is None or len(normalized) != n:
            normalized = normalize_batch(batch.texts)
        article_ids = pc.fill_null(as_text_array(batch.article_ids), "")
        self._check_rows(normalized, article_ids, batch.articles, problems)
        valid = np.fromiter((p is None for p in problems), dtype=bool, count=n)
        rows = np.flatnonzero(valid)
        texts = normalized
        if 0 < len(rows) < n:
            take = pa.array(rows)
            texts, article_ids = texts.take(take), article_ids.take(take)
        return _Scorable(problems, rows, texts, article_ids, normalized)

    def _check_rows(
        self, texts: pa.Array, article_ids: pa.Array, articles: Mapping[str, Article], problems: list[Problem | None]
    ) -> None:
        empty_text = pc.equal(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False)
        # Each distinct article id is checked once (a chunk names a few dozen), then rows by their id's code.
        encoded = pc.dictionary_encode(article_ids)
        verdicts = [_article_problem(key, articles) for key in encoded.dictionary.to_pylist()]
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        bad_id = np.array([v is not None for v in verdicts], dtype=bool)[codes] if verdicts else empty_text
        for i in np.flatnonzero(empty_text | bad_id).tolist():
            if problems[i] is None:
                problems[i] = Problem(EMPTY_TEXT, EMPTY_TEXT) if empty_text[i] else verdicts[codes[i]]

    def _probabilities(
        self, batch: CommentBatch, scorable: _Scorable, saved: tuple[pa.Array, sp.csr_matrix] | None
    ) -> tuple[np.ndarray, int]:
        """Class probabilities of the scorable rows, and how many of them name a parent that was not found."""
        texts, article_ids, rows = scorable.texts, scorable.article_ids, scorable.rows
        comments, totals = self._vectorize(texts) if saved is None else self._weighed(saved[1])
        encoded = pc.dictionary_encode(article_ids)
        article_rows = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        keys = encoded.dictionary.to_pylist()
        titles, bodies = self._article_matrices([batch.articles[key] for key in keys])
        parent_rows, parents, not_found = self._parents(batch, rows, article_ids, comments)
        whole = batch.threads.select(keys) if batch.threads is not None else None
        context = ContextBatch(
            texts=texts.to_pylist(), comments=comments, term_totals=totals, article_rows=article_rows,
            titles=titles, bodies=bodies, parent_rows=parent_rows, parents=parents, thread_groups=article_rows,
            thread_sums=whole.sums if whole is not None else None,
            thread_counts=whole.counts if whole is not None else None,
        )
        return self.bundle.scores_from_parts(*self._features.transform_parts(context)), not_found

    def _vectorize(self, texts: pa.Array) -> tuple[sp.csr_matrix, np.ndarray]:
        """The same rows `CommentContextFeatures.vectorize` returns, hashed for the whole batch at once."""
        if not self._fast:
            return self._features.vectorize(texts.to_pylist())
        return self._weighed(word_counts(texts, self._features.hasher_))

    def _weighed(self, counts: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """Weighted unit rows and term totals from hashed counts (consumed)."""
        totals = np.asarray(counts.sum(axis=1)).ravel()
        return weigh_rows(counts, self._features.idf_), totals

    def _article_matrices(self, articles: list[Article]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        missing = [a for a in articles if (a.id, a.title, a.body) not in self._article_vectors]
        if missing:
            titles, _ = self._vectorize(as_text_array([normalize_text(a.title) for a in missing]))
            bodies, _ = self._vectorize(as_text_array([normalize_text(a.body) for a in missing]))
            for i, article in enumerate(missing):
                self._article_vectors[(article.id, article.title, article.body)] = (titles[i], bodies[i])
        vectors = []
        for article in articles:
            key = (article.id, article.title, article.body)
            self._article_vectors.move_to_end(key)
            vectors.append(self._article_vectors[key])
        while len(self._article_vectors) > max(self._article_cache_size, len(articles)):
            self._article_vectors.popitem(last=False)
        titles = sp.vstack([t for t, _ in vectors], format="csr")
        bodies = sp.vstack([b for _, b in vectors], format="csr")
        return titles, bodies

    def _parents(
        self, batch: CommentBatch, rows: np.ndarray, article_ids: pa.Array, comments: sp.csr_matrix
    ) -> tuple[np.ndarray, sp.csr_matrix, int]:
        """Like the core's frame path: a parent in the batch (same article) first, then its text if given.

        Returns each row's parent row, the parent matrix, and how many rows name a parent found in neither
        (they are scored as top-level comments). The parent matrix holds only the comments that are parents
        (the core's frame path passes every comment): same products, less work in the row-wise dot products.
        """
        n = len(rows)
        parent_rows = np.full(n, -1, dtype=np.int64)
        if batch.parent_ids is None:
            return parent_rows, comments[:0], 0
        parent_ids = as_text_array(batch.parent_ids)
        if n < len(parent_ids):
            parent_ids = parent_ids.take(pa.array(rows))
        if not pc.any(pc.fill_null(pc.not_equal(parent_ids, ""), False)).as_py():
            return parent_rows, comments[:0], 0
        comment_ids = None
        if batch.comment_ids is not None:
            comment_ids = as_text_array(batch.comment_ids)
            comment_ids = comment_ids.take(pa.array(rows)) if n < len(comment_ids) else comment_ids
        links = link_parents_arrow(article_ids, comment_ids, parent_ids)
        parent_rows = links.rows
        missing = np.flatnonzero(links.unresolved)  # batch: from the job's memory if it has the text, else counted
        in_batch = np.unique(parent_rows[parent_rows >= 0])
        parents = comments[in_batch]
        parent_rows[parent_rows >= 0] = np.searchsorted(in_batch, parent_rows[parent_rows >= 0])
        if batch.parent_texts is None or not len(missing):
            return parent_rows, parents, len(missing)
        outside = as_text_array(batch.parent_texts).take(pa.array(rows[missing]))
        known = pc.is_valid(outside).to_numpy(zero_copy_only=False)
        if not known.any():
            return parent_rows, parents, len(missing)
        extra, _ = self._vectorize(normalize_batch(outside.filter(pa.array(known))))
        parent_rows[missing[known]] = len(in_batch) + np.arange(int(known.sum()))
        return parent_rows, sp.vstack([parents, extra], format="csr"), int((~known).sum())


def _article_problem(key: str, articles: Mapping[str, Article]) -> Problem | None:
    if not key.strip():
        return Problem(MISSING_ARTICLE, MISSING_ARTICLE)
    if key not in articles:
        return Problem(UNKNOWN_ARTICLE, f"unknown article {key!r}")
    return None


def _scored(labels: np.ndarray, scores: np.ndarray, actions: np.ndarray, problems: list[Problem | None]) -> ScoredBatch:
    n = len(labels)
    has_problems = problems.count(None) != n
    if has_problems:
        errors = pa.array([p.message if p is not None else None for p in problems], type=pa.string())
    else:
        errors = pa.nulls(n, pa.string())
    columns = [pa.array(labels, type=pa.string())]
    columns += [pa.array(scores[:, j], type=pa.float64(), from_pandas=True) for j in range(len(LABELS))]
    columns += [pa.array(actions, type=pa.string()), errors]
    counts = Counts(
        rows=n, labels=_counter(labels), actions=_counter(actions),
        errors=Counter(p.kind for p in problems if p is not None) if has_problems else Counter(),
    )
    return ScoredBatch(pa.Table.from_arrays(columns, schema=SCORE_SCHEMA), counts)


def _counter(values: np.ndarray) -> Counter[str]:
    """Occurrences of each value of an object array, missing values (None) not counted."""
    counted = Counter(values.tolist())
    counted.pop(None, None)  # type: ignore[call-overload]
    return counted


def empty_scores(n: int, problem: Problem) -> ScoredBatch:
    """SCORE_COLUMNS for `n` rows that all share one problem (used when a whole chunk cannot be scored)."""
    return _scored(
        np.full(n, None, dtype=object), np.full((n, len(LABELS)), np.nan), np.full(n, None, dtype=object),
        [problem] * n,
    )


#: What scoring a batch may raise that makes its rows error rows instead of stopping the job.
SCORING_ERRORS = (ModerationError, ValueError, ArithmeticError, MemoryError, pa.ArrowException)


def score_safely(scorer: ChunkScorer, batch: CommentBatch) -> ScoredBatch:
    """Score a batch; if scoring itself fails, every row of the batch says why and the job goes on."""
    try:
        return scorer.score(batch)
    except SCORING_ERRORS as error:
        return empty_scores(len(batch), Problem(SCORING_FAILED, f"{SCORING_FAILED}: {type(error).__name__}: {error}"))


def thread_part_safely(scorer: ChunkScorer, batch: CommentBatch) -> ArticleThreads:
    """The batch's share of the threads; a batch that fails here adds nothing (its rows fail when scored too)."""
    try:
        return scorer.thread_part(batch)
    except SCORING_ERRORS:
        return ArticleThreads.empty(scorer.width)
