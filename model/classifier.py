"""The classifier at the end of the pipeline: spam judged from the comment alone, then on or off topic in context.

Spam is a property of the comment: no article can make "$75 per hour watching tv" acceptable. A single
three-class logistic regression over all features learned the opposite from our corpus, where spam rarely
shares words with its article: "far from the article" became evidence of spam, and on real sites, where many
honest comments ("love this song") share no word with the page either, the article and thread decided spam
(YouTube spam ROC AUC 0.68 with every feature, 0.90 with the comment's own features, same corpus; issue 11).

So there are two linear heads, each a logistic regression:

    spam head    spam vs the rest, on the comment's own terms only: it never sees the columns that relate the
                 comment to its article, parent or thread, nor the regex cues and length columns, which
                 measured as our corpus's style more than as spam (short posts were never spam in it; with
                 them the YouTube spam F1 at the decision fell from 0.62 to 0.30 at the same AUC, docs/model.md)
    topic head   on_topic vs off_topic, on every column but the length columns (`topic_ignores`: length is
                 our corpus's style, docs/model.md), fitted on the comments that are not spam

    P(spam) = s,  P(on_topic) = (1 - s) · t,  P(off_topic) = (1 - s) · (1 - t)    (s, t the heads' sigmoids)

With two labels only one head exists (spam vs the other label, or on vs off topic). Each head's weights can be
divided by a temperature fitted on grouped out-of-fold scores (`calibrated`), which is how training calibrates.
`combine_heads` is the one place that turns head logits into label probabilities: the bundle calls it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

SPAM, ON_TOPIC, OFF_TOPIC = "spam", "on_topic", "off_topic"
SPAM_HEAD, TOPIC_HEAD = "spam", "topic"


class SpamThenTopicClassifier(ClassifierMixin, BaseEstimator):
    """Two logistic-regression heads (see the module docstring); sklearn conventions, so it pickles and clones.

    Parameters
    ----------
    C : inverse regularisation of both heads.
    spam_C : inverse regularisation of the spam head (None: C).
    spam_weight : weight of a spam comment in the spam head's loss (1: none); above 1 it trades some
        calibration for recall on spam, which argmax decisions under-predict (a minority class).
    spam_columns : (start, stop) of the only columns the spam head reads (the term columns,
        `CommentContextFeatures.term_columns()`); None for every column.
    topic_ignores : columns the topic head does not read (`CommentContextFeatures.length_columns()`).
    class_weight, max_iter, random_state, solver, tol : as LogisticRegression's, for both heads.
    """

    def __init__(
        self,
        *,
        C: float = 16.0,
        spam_C: float | None = None,
        spam_weight: float = 1.0,
        spam_columns: tuple[int, int] | None = None,
        topic_ignores: tuple[int, ...] = (),
        class_weight: str | None = None,
        max_iter: int = 2000,
        random_state: int = 0,
        solver: str = "lbfgs",
        tol: float = 1e-4,
    ) -> None:
        self.C = C
        self.spam_C = spam_C
        self.spam_weight = spam_weight
        self.spam_columns = spam_columns
        self.topic_ignores = topic_ignores
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state
        self.solver = solver
        self.tol = tol

    def fit(self, X: Any, y: Any, spam_rows: Any = None, topic_rows: Any = None) -> SpamThenTopicClassifier:
        """Fit the heads the labels call for; columns no comment uses get weight zero without being fitted.

        `spam_rows` (a boolean mask; None: every row) limits the rows the spam head learns from: a retrain on a
        site's decisions may learn the site's spam from its own moderators alone while the topic head keeps our
        corpus (a site that never marks a comment off topic cannot teach that head; `training.retrain`).
        `topic_rows` does the same for the topic head (its rows are the non-spam ones among them): a site whose
        moderators mark off-topic comments can teach its own notion of off topic.
        """
        matrix = sp.csr_matrix(X)
        labels = np.asarray(y).astype(str)
        for_spam = np.ones(len(labels), dtype=bool) if spam_rows is None else np.asarray(spam_rows, dtype=bool)
        for_topic = np.ones(len(labels), dtype=bool) if topic_rows is None else np.asarray(topic_rows, dtype=bool)
        for name, mask in (("spam_rows", for_spam), ("topic_rows", for_topic)):
            if mask.shape != labels.shape:
                raise ValueError(f"{name} has {mask.size} entries for {labels.size} rows")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"SpamThenTopicClassifier needs at least two labels, got {list(self.classes_)}")
        known = set(self.classes_)
        unknown = known - {SPAM, ON_TOPIC, OFF_TOPIC}
        if unknown:
            raise ValueError(f"unknown labels {sorted(unknown)}; expected on_topic, off_topic, spam")
        n_columns = matrix.shape[1]
        # Only columns some comment uses: the others would get zero weight anyway, and lbfgs fits ~6x faster.
        used = np.flatnonzero(np.diff(matrix.tocsc().indptr) > 0)
        start, stop = self.spam_columns if self.spam_columns is not None else (0, n_columns)
        own = used[(used >= start) & (used < stop)]
        heads = heads_for(tuple(self.classes_))
        coef: list[np.ndarray] = []
        intercept: list[float] = []
        is_spam = labels == SPAM
        if SPAM_HEAD in heads:
            if len(np.unique(is_spam[for_spam])) < 2:
                raise ValueError("the rows given to the spam head need both spam and other comments")
            weights, bias = self._fit_head(matrix[for_spam][:, own], is_spam[for_spam], self.spam_C or self.C,
                                           {True: self.spam_weight, False: 1.0})
            coef.append(_full_width(weights, own, n_columns))
            intercept.append(bias)
        if TOPIC_HEAD in heads:
            keep = ~is_spam & for_topic
            if len(np.unique(labels[keep] == ON_TOPIC)) < 2:
                raise ValueError("the rows given to the topic head need both on-topic and off-topic comments")
            read = np.setdiff1d(used, np.asarray(self.topic_ignores, dtype=np.int64))
            weights, bias = self._fit_head(matrix[keep][:, read], labels[keep] == ON_TOPIC, self.C)
            coef.append(_full_width(weights, read, n_columns))
            intercept.append(bias)
        self.heads_ = heads
        self.head_coef_ = np.vstack(coef)
        self.head_intercept_ = np.asarray(intercept, dtype=np.float64)
        self.n_features_in_ = n_columns
        return self

    def _fit_head(self, matrix: sp.csr_matrix, positive: np.ndarray, C: float,
                  class_weight: dict[bool, float] | None = None) -> tuple[np.ndarray, float]:
        weight = class_weight if class_weight is not None and self.class_weight is None else self.class_weight
        head = LogisticRegression(C=C, class_weight=weight, max_iter=self.max_iter,
                                  random_state=self.random_state, solver=self.solver, tol=self.tol)
        head.fit(matrix, positive)
        return np.asarray(head.coef_[0], dtype=np.float64), float(head.intercept_[0])

    def decision_function(self, X: Any) -> np.ndarray:
        """The heads' logits, one column per head in `heads_` order."""
        check_is_fitted(self, "head_coef_")
        return np.asarray(sp.csr_matrix(X) @ self.head_coef_.T) + self.head_intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Label probabilities, columns in `classes_` order."""
        return combine_heads(self.decision_function(X), self.heads_, tuple(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def calibrated(self, temperatures: dict[str, float]) -> SpamThenTopicClassifier:
        """Divide each head's weights by its temperature (> 1 softens overconfident scores); in place."""
        check_is_fitted(self, "head_coef_")
        for index, head in enumerate(self.heads_):
            scale = 1.0 / float(temperatures.get(head, 1.0))
            self.head_coef_[index] *= scale
            self.head_intercept_[index] *= scale
        self.temperatures_ = {head: float(temperatures.get(head, 1.0)) for head in self.heads_}
        return self


def heads_for(labels: tuple[str, ...]) -> tuple[str, ...]:
    """The heads a label set needs: spam when spam is a label; topic when both on_topic and off_topic are."""
    heads = (SPAM_HEAD,) if SPAM in labels else ()
    return (*heads, TOPIC_HEAD) if ON_TOPIC in labels and OFF_TOPIC in labels else heads


def combine_heads(logits: np.ndarray, heads: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray:
    """Label probabilities (columns in `labels` order) from head logits (columns in `heads` order)."""
    probabilities = np.zeros((logits.shape[0], len(labels)))
    column = {label: j for j, label in enumerate(labels)}
    not_spam = np.ones(logits.shape[0])
    if SPAM_HEAD in heads:
        spam = _sigmoid(logits[:, heads.index(SPAM_HEAD)])
        probabilities[:, column[SPAM]] = spam
        not_spam = 1.0 - spam
    if TOPIC_HEAD in heads:
        on = _sigmoid(logits[:, heads.index(TOPIC_HEAD)])
        probabilities[:, column[ON_TOPIC]] = not_spam * on
        probabilities[:, column[OFF_TOPIC]] = not_spam * (1.0 - on)
    else:
        [other] = [label for label in labels if label != SPAM]
        probabilities[:, column[other]] = not_spam
    return probabilities


def head_logits_from_scores(scores: np.ndarray, heads: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray:
    """The inverse of `combine_heads`: each head's logit from label probabilities (for calibration)."""
    column = {label: j for j, label in enumerate(labels)}
    eps = 1e-12
    logits = []
    for head in heads:
        if head == SPAM_HEAD:
            p = scores[:, column[SPAM]]
        else:
            on, off = scores[:, column[ON_TOPIC]], scores[:, column[OFF_TOPIC]]
            p = on / np.maximum(on + off, eps)
        p = np.clip(p, eps, 1.0 - eps)
        logits.append(np.log(p) - np.log1p(-p))
    return np.column_stack(logits)


def explanation_weights(coef: np.ndarray, heads: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray:
    """One weight row per label (in `labels` order) whose products with a comment's features are the reasons:
    the spam head for spam; the topic head toward on_topic, its negation toward off_topic; with one head only,
    that head and its negation."""
    rows = []
    for label in labels:
        if label == SPAM:
            rows.append(coef[heads.index(SPAM_HEAD)])
        elif TOPIC_HEAD in heads:
            topic = coef[heads.index(TOPIC_HEAD)]
            rows.append(topic if label == ON_TOPIC else -topic)
        else:
            rows.append(-coef[heads.index(SPAM_HEAD)])
    return np.vstack(rows)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + e^-z), without overflow warnings


def _full_width(weights: np.ndarray, columns: np.ndarray, n_columns: int) -> np.ndarray:
    full = np.zeros(n_columns)
    full[columns] = weights
    return full
