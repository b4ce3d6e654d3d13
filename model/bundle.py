"""The model bundle: the one thing training hands to serving and batch scoring.

A bundle is the fitted pipeline, its label set, the action thresholds and metadata (version, creation time,
library versions, training-data hash and counts, training config, validation metrics). On disk it is a folder:

    model.joblib     the pipeline and plain dicts, written by joblib
    metadata.json    everything readable, plus the SHA-256 of model.joblib

Unpickling runs code, so `load` reads metadata.json first and refuses a model.joblib whose hash, format version
or scikit-learn version does not match before it is ever unpickled. (The hash guards against corruption and
accidental swaps; someone who can write both files can still replace both.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from model.actions import Thresholds, decide_actions
from model.bundle_files import (
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    atomic_write,
    check_compatible,
    library_versions,
    read_metadata,
    sha256_of,
)
from model.classifier import SpamThenTopicClassifier, combine_heads, explanation_weights
from model.context import ArticleContext, ThreadState
from model.errors import BundleError, BundleIntegrityError, BundleNotFoundError, ClassifyError
from model.explain import Explainer
from model.fast.small_batch import SMALL_BATCH_MAX, Parent, SmallBatchFeatures, TermRows
from model.fast.small_batch import supports as small_batch_supports
from model.features import CommentContextFeatures, ContextBatch
from model.linking import check_unique_ids, link_parents
from model.text import normalize_text
from model.types import Article, Classification, Comment


@dataclass
class ModelBundle:
    """A fitted comment model with everything needed to use it, and nothing that needs training code."""

    pipeline: Pipeline
    labels: tuple[str, ...]
    thresholds: Thresholds
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        features = self.pipeline.named_steps["features"]
        classifier = self.pipeline.named_steps["classifier"]
        if not isinstance(features, CommentContextFeatures):
            raise BundleError("a bundle's pipeline must start with CommentContextFeatures")
        if not isinstance(classifier, SpamThenTopicClassifier):
            raise BundleError(
                "a bundle's pipeline must end with SpamThenTopicClassifier; retrain with `moderate train`"
            )
        classes = [str(c) for c in classifier.classes_]
        if sorted(classes) != sorted(self.labels):
            raise BundleError(f"bundle labels {self.labels} do not match the classifier's classes {classes}")
        self._features: CommentContextFeatures = features
        self._heads: tuple[str, ...] = tuple(classifier.heads_)
        coef = np.asarray(classifier.head_coef_, dtype=np.float64)
        # features × heads, C-contiguous: scipy copies a transposed view on every product otherwise
        self._weights_by_feature = np.ascontiguousarray(coef.T)
        self._intercept = np.asarray(classifier.head_intercept_, dtype=np.float64)
        self._explainer = Explainer(features, explanation_weights(coef, self._heads, self.labels), centred=False)
        self._small = SmallBatchFeatures(features) if small_batch_supports(features) else None

    # -- identity -----------------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    # -- scoring ------------------------------------------------------------------------------------------
    def scores_from_features(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Class probabilities (columns in `labels` order) from a feature matrix.

        What the classifier's predict_proba computes, without its per-call validation, which costs more than the
        arithmetic for a single comment.
        """
        return self._probabilities(np.asarray(matrix @ self._weights_by_feature) + self._intercept)

    def scores_from_parts(self, terms: sp.csr_matrix | TermRows, dense: np.ndarray) -> np.ndarray:
        """Class probabilities from `CommentContextFeatures.transform_parts`: each part times its own block of
        weights, which saves stacking them into one matrix (a copy of every term entry of a large batch)."""
        width = terms.shape[1]
        term_weights = self._weights_by_feature[:width]
        if isinstance(terms, TermRows):
            n = terms.shape[0]
            entry_rows = np.repeat(np.arange(n), np.diff(terms.indptr))
            weighted = term_weights[terms.indices] * terms.data[:, None]
            term_logits = np.column_stack([
                np.bincount(entry_rows, weights=weighted[:, k], minlength=n) for k in range(weighted.shape[1])
            ])
        else:
            term_logits = np.asarray(terms @ term_weights)
        return self._probabilities(term_logits + dense @ self._weights_by_feature[width:] + self._intercept)

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities for a frame with columns text, article_key, title, body (+ comment_id, parent_id)."""
        return self.scores_from_features(self._features.transform(frame))

    def actions(self, scores: np.ndarray) -> np.ndarray:
        """approve / review / reject for each row of scores."""
        return decide_actions(scores, self.labels, self.thresholds)

    def article_context(self, article: Article) -> ArticleContext:
        """Vectorise an article once; pass the result to `classify` to reuse it across calls."""
        title, _ = self._features.vectorize([normalize_text(article.title)])
        body, _ = self._features.vectorize([normalize_text(article.body)])
        return ArticleContext(article=article, title_vector=title, body_vector=body,
                              background=np.asarray(self._features.background_, dtype=np.float64))

    def classify(
        self,
        article: Article,
        comments: Sequence[Comment],
        *,
        context: ArticleContext | None = None,
        explain: bool = True,
        remember: bool = False,
    ) -> list[Classification]:
        """Classify comments under one article: one result per comment, in order, always the same shape.

        `parent_id` may name another comment of this call or one that `context` already remembers. With
        `remember=True` the comments join the context's thread, so later calls see them as the thread and as
        parents. Raises ClassifyError for duplicate ids, unknown parents and empty texts.
        """
        if context is None:
            context = self.article_context(article)
        return self.classify_many([(context, comments)], explain=explain, remember=remember)[0]

    def classify_many(
        self,
        jobs: Sequence[tuple[ArticleContext, Sequence[Comment]]],
        *,
        explain: bool = True,
        remember: bool = False,
    ) -> list[list[Classification]]:
        """Classify several groups of comments, each under its own article context, in one vectorised pass.

        The service gathers concurrent requests into one call; the result is the same as calling `classify`
        per group. Jobs that share a context share its thread. Errors name the field within the failing job.
        """
        listed = [(context, list(comments)) for context, comments in jobs]
        if not any(comments for _, comments in listed):
            return [[] for _ in listed]
        texts_per_job = [[normalize_text(c.text) for c in comments] for _, comments in listed]
        for (_, comments), job_texts in zip(listed, texts_per_job, strict=True):
            _check_comments(comments, job_texts)
        texts = [text for job_texts in texts_per_job for text in job_texts]
        links = _link_comments(listed)
        if self._small is not None and len(texts) <= SMALL_BATCH_MAX:
            vectors, dense = self._small_batch_parts(texts, links)
            terms: sp.csr_matrix | TermRows = vectors
        else:
            vectors, totals = self._features.vectorize(texts)
            terms, dense = self._features.transform_parts(self._batch(links, texts, vectors, totals))
        scores = self.scores_from_parts(terms, dense)
        predicted = np.argmax(scores, axis=1)
        actions = self.actions(scores)
        reasons: list[list[str]] = [[] for _ in texts]
        if explain:
            prior = np.array([state.count for state in links.states], dtype=np.int64)
            sizes = np.bincount(links.groups, minlength=len(links.contexts)) + prior
            has_thread = sizes[links.groups] > 1
            is_reply = (links.parent_rows >= 0) | (links.parent_rows <= _KNOWN_PARENT)
            reasons = self._explainer.reasons(terms, dense, predicted, texts, is_reply, has_thread)
        results = []
        for (context, comments), start in zip(listed, links.starts, strict=True):
            if remember and comments:
                context.remember([c.id for c in comments], _rows(vectors, start, start + len(comments)))
            results.append([
                Classification(
                    id=comment.id,
                    label=self.labels[predicted[start + i]],
                    scores={label: round(float(scores[start + i, j]), 6) for j, label in enumerate(self.labels)},
                    action=str(actions[start + i]),
                    reasons=reasons[start + i],
                )
                for i, comment in enumerate(comments)
            ])
        return results

    def _small_batch_parts(self, texts: list[str], links: _Links) -> tuple[TermRows, np.ndarray]:
        """(term vectors, scaled dense block) through `model.fast.small_batch`, for the few comments of a request."""
        assert self._small is not None
        vectors, totals = self._small.vectorize(texts)
        parents: list[Parent | None] = []
        for row in links.parent_rows:
            if row >= 0:
                indices, data = vectors.row(int(row))
                parents.append(Parent(indices, data))
            elif row <= _KNOWN_PARENT:
                parents.append(Parent(*links.known[_KNOWN_PARENT - int(row)]))
            else:
                parents.append(None)
        measures = self._small.measures(vectors, totals, links.groups, links.contexts, parents, links.states)
        dense = self._features.scale_dense(self._features.dense_columns(measures, texts))
        return vectors, dense

    def _batch(self, links: _Links, texts: list[str], vectors: sp.csr_matrix, totals: np.ndarray) -> ContextBatch:
        """One ContextBatch for all jobs: a thread group per distinct context, known parents appended."""
        n = len(texts)
        parent_rows = links.parent_rows.copy()
        parents = vectors
        known = np.flatnonzero(parent_rows <= _KNOWN_PARENT)
        if len(known):
            extra_indices = [links.known[_KNOWN_PARENT - int(parent_rows[i])][0] for i in known]
            extra_data = [links.known[_KNOWN_PARENT - int(parent_rows[i])][1] for i in known]
            parent_rows[known] = n + np.arange(len(known))
            extra = sp.csr_matrix(
                (np.concatenate(extra_data), np.concatenate(extra_indices),
                 np.concatenate([[0], np.cumsum([len(i) for i in extra_indices])])),
                shape=(len(extra_indices), vectors.shape[1]),
            )
            parents = sp.vstack([vectors, extra], format="csr")
        states = links.states
        return ContextBatch(
            texts=texts, comments=vectors, term_totals=totals, article_rows=links.groups,
            titles=_stack([c.title_vector for c in links.contexts]),
            bodies=_stack([c.body_vector for c in links.contexts]),
            parent_rows=parent_rows, parents=parents, thread_groups=links.groups,
            thread_prior_sums=_stack([state.vector_sum for state in states]),
            thread_prior_counts=np.array([state.count for state in states], dtype=np.float64),
            thread_prior_squared_norms=np.array([state.squared_norm for state in states]),
        )

    def _probabilities(self, head_logits: np.ndarray) -> np.ndarray:
        return combine_heads(head_logits, self._heads, self.labels)

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write model.joblib and metadata.json into `directory` (created if needed); return the folder."""
        folder = Path(directory)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            payload = {
                "format_version": FORMAT_VERSION,
                "pipeline": self.pipeline,
                "labels": list(self.labels),
                "thresholds": self.thresholds.to_dict(),
                "metadata": self.metadata,
            }
            model_path = folder / MODEL_FILE
            atomic_write(model_path, lambda handle: joblib.dump(payload, handle, compress=3))
            metadata = {
                **self.metadata,
                "format_version": FORMAT_VERSION,
                "labels": list(self.labels),
                "thresholds": self.thresholds.to_dict(),
                "library_versions": self.metadata.get("library_versions", library_versions()),
                "model_file": MODEL_FILE,
                "model_sha256": sha256_of(model_path),
            }
            text = json.dumps(metadata, indent=2, sort_keys=True, default=str)
            atomic_write(folder / METADATA_FILE, lambda handle: handle.write(text.encode("utf-8")))
        except OSError as error:
            raise BundleError(f"cannot write the model bundle to {folder}: {error.strerror or error}") from error
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelBundle:
        """Load a bundle folder (or its model.joblib), checking hash, format and library versions first."""
        folder = Path(path)
        if folder.is_file():
            folder = folder.parent
        model_path, metadata_path = folder / MODEL_FILE, folder / METADATA_FILE
        if not model_path.exists() or not metadata_path.exists():
            raise BundleNotFoundError(
                f"no model bundle at {folder} (expected {MODEL_FILE} and {METADATA_FILE}); "
                "train one with `moderate train --out " + str(folder) + "`"
            )
        metadata = read_metadata(metadata_path)
        check_compatible(metadata, metadata_path)
        actual = sha256_of(model_path)
        if actual != metadata.get("model_sha256"):
            raise BundleIntegrityError(
                f"{model_path}: SHA-256 {actual[:12]}… does not match {METADATA_FILE} "
                f"({str(metadata.get('model_sha256'))[:12]}…); the file is corrupt or was replaced, "
                "so it is not loaded"
            )
        try:
            payload = joblib.load(model_path)
        except Exception as error:  # a truncated or foreign pickle can raise nearly anything
            message = f"{model_path}: cannot be read ({type(error).__name__}: {error})"
            raise BundleIntegrityError(message) from error
        if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
            raise BundleIntegrityError(f"{model_path}: not a model bundle of format version {FORMAT_VERSION}")
        return cls(
            pipeline=payload["pipeline"],
            labels=tuple(payload["labels"]),
            thresholds=Thresholds.from_dict(payload["thresholds"]),
            metadata=payload["metadata"],
        )


def _stack(rows: list[sp.csr_matrix]) -> sp.csr_matrix:
    return rows[0] if len(rows) == 1 else sp.vstack(rows, format="csr")


#: `_Links.parent_rows` value of the first parent known from an earlier call; the k-th is _KNOWN_PARENT - k.
_KNOWN_PARENT = -2


@dataclass
class _Links:
    """How the comments of a classify_many call relate: thread group (context) and parent of each row."""

    contexts: list[ArticleContext]
    groups: np.ndarray  # row -> index into contexts
    parent_rows: np.ndarray  # -1 top-level, >= 0 a row of this call, <= _KNOWN_PARENT an entry of `known`
    known: list[tuple[np.ndarray, np.ndarray]]
    starts: list[int]  # first row of each job
    states: list[ThreadState]  # each context's thread without the comments of this call (`_link_comments`)


def _link_comments(jobs: list[tuple[ArticleContext, list[Comment]]]) -> _Links:
    """Resolve thread groups and parents (`model.linking`, the one rule); the service's choice for a parent not
    in the call: one remembered under the article, else a ClassifyError naming the field (self-replies too)."""
    n = sum(len(comments) for _, comments in jobs)
    group_of: dict[int, int] = {}
    contexts: list[ArticleContext] = []
    groups = np.zeros(n, dtype=np.int64)
    parent_rows = np.full(n, -1, dtype=np.int64)
    known: list[tuple[np.ndarray, np.ndarray]] = []
    starts: list[int] = []
    in_call: dict[int, list[str]] = {}
    start = 0
    for context, comments in jobs:
        group = group_of.setdefault(id(context), len(contexts))
        if group == len(contexts):
            contexts.append(context)
        groups[start : start + len(comments)] = group
        ids = [comment.id for comment in comments]
        in_call.setdefault(group, []).extend(ids)
        links = link_parents([0] * len(comments), ids, [comment.parent_id for comment in comments])
        found = np.flatnonzero(links.rows >= 0)
        parent_rows[start + found] = start + links.rows[found]
        for index in np.flatnonzero(links.unresolved).tolist():
            parent = str(comments[index].parent_id)  # unresolved: it names a parent
            if parent == comments[index].id:
                raise ClassifyError(
                    f"comments[{index}].parent_id: a comment cannot reply to itself ({parent!r})",
                    field=f"comments[{index}].parent_id",
                )
            vector = context.known_vector(parent)
            if vector is None:
                raise ClassifyError(
                    f"comments[{index}].parent_id: unknown parent {parent!r}: not in this request and not a "
                    f"comment seen before under article {context.article.id!r}",
                    field=f"comments[{index}].parent_id",
                )
            parent_rows[start + index] = _KNOWN_PARENT - len(known)
            known.append(vector)
        starts.append(start)
        start += len(comments)
    # A comment already in its thread (sent again) is compared with the others, not with itself as well.
    states = [context.thread_state(excluding=in_call.get(g, ())) for g, context in enumerate(contexts)]
    return _Links(contexts=contexts, groups=groups, parent_rows=parent_rows, known=known, starts=starts,
                  states=states)


def _rows(vectors: sp.csr_matrix | TermRows, start: int, end: int) -> TermRows:
    """Rows start..end of either kind of term vectors, as TermRows (what ArticleContext.remember reads)."""
    offset = vectors.indptr[start]
    return TermRows(indptr=np.asarray(vectors.indptr[start : end + 1]) - offset,
                    indices=vectors.indices[offset : vectors.indptr[end]],
                    data=vectors.data[offset : vectors.indptr[end]], width=int(vectors.shape[1]))


def _check_comments(comments: Sequence[Comment], texts: list[str]) -> None:
    check_unique_ids([comment.id for comment in comments])
    for index, text in enumerate(texts):
        if not text:
            raise ClassifyError(f"comments[{index}].text: empty text", field=f"comments[{index}].text")
