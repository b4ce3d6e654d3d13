"""Honest evaluation: cross-validation grouped by article, our model beside the naive baseline on the same folds.

No article is ever in both the training and the test side of a fold, so every figure says how the model does
on tomorrow's articles, not on new comments under articles it has already read. Augmented examples are made
from the training side of each fold only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from model.labels import OFF_TOPIC
from model.pipeline import make_baseline_pipeline, make_pipeline
from training.augment import moved_off_topic
from training.config import TrainingConfig
from training.data import LabeledData

Progress = Callable[[str], None]


@dataclass
class CrossValidation:
    """Out-of-fold scores of our model, of our model without thread context, and of the baseline."""

    labels: tuple[str, ...]
    y_true: np.ndarray
    article_ids: np.ndarray
    folds: np.ndarray
    scores: np.ndarray
    scores_without_thread: np.ndarray
    baseline_scores: np.ndarray
    augmented_per_fold: list[dict[str, int]]
    seconds: float
    uncalibrated_scores: np.ndarray | None = None  # `scores` before calibration (training.train.calibrate)


def training_rows(frame: pd.DataFrame, y: pd.Series, articles: pd.DataFrame, config: TrainingConfig,
                  labels: tuple[str, ...]) -> tuple[pd.DataFrame, pd.Series]:
    """The rows a model is fitted on: the labeled comments in their threads, plus two kinds of copies.

    - "thread dropout": a share of the comments again, each alone under its article (parent kept as text), so
      the model also learns to decide without the thread, as it must for the first comments on a new story;
    - moved off-topic examples (see `training.augment`), also alone under their new article.
    """
    parts, targets = [frame], [y]
    if config.thread_dropout > 0:
        rng = np.random.default_rng(config.random_state + 1)
        chosen = np.sort(rng.choice(len(frame), size=int(len(frame) * config.thread_dropout), replace=False))
        solo = without_thread(frame).iloc[chosen]
        solo = solo.assign(comment_id="solo:" + solo["comment_id"].astype(str))
        parts.append(solo)
        targets.append(y.iloc[chosen])
    if OFF_TOPIC in labels and config.augment_off_topic > 0:
        moved, moved_y = moved_off_topic(
            frame, y, articles, share=config.augment_off_topic, min_terms=config.augment_min_terms,
            random_state=config.random_state,
        )
        parts.append(moved)
        targets.append(moved_y)
    return pd.concat(parts, ignore_index=True), pd.concat(targets, ignore_index=True)


def added_rows(fit_frame: pd.DataFrame) -> dict[str, int]:
    """How many rows `training_rows` added, by kind (their comment ids carry the kind as a prefix)."""
    ids = fit_frame["comment_id"].astype(str)
    return {"without_thread": int(ids.str.startswith("solo:").sum()),
            "moved_off_topic": int(ids.str.startswith("moved:").sum())}


def fit_pipeline(frame: pd.DataFrame, y: pd.Series, config: TrainingConfig,
                 spam_rows: np.ndarray | None = None, topic_rows: np.ndarray | None = None) -> Pipeline:
    """Fit our pipeline with BLAS on one thread: lbfgs makes many small dense products, and BLAS threads
    fighting over two cores made the fit 5x slower (24.6 s against 5.0 s on our corpus). `spam_rows`: the rows
    the spam head learns from (`SpamThenTopicClassifier.fit`), `topic_rows` the topic head's; None for all."""
    extra = {} if spam_rows is None else {"classifier__spam_rows": spam_rows}
    if topic_rows is not None:
        extra["classifier__topic_rows"] = topic_rows
    with threadpool_limits(limits=1, user_api="blas"):
        return make_pipeline(**config.pipeline_params()).fit(frame, y, **extra)


def without_thread(frame: pd.DataFrame) -> pd.DataFrame:
    """Each comment alone under its article (parent kept as text): what a service sees for a first comment."""
    solo = frame.copy()
    texts = dict(zip(zip(frame["article_id"], frame["comment_id"], strict=True), frame["text"], strict=True))
    solo["parent_text"] = [
        texts.get((a, p), "") if p else "" for a, p in zip(frame["article_id"], frame["parent_id"], strict=True)
    ]
    solo["article_key"] = "solo:" + frame["comment_id"].astype(str)
    return solo


def cross_validate(data: LabeledData, config: TrainingConfig, progress: Progress | None = None) -> CrossValidation:
    """Grouped k-fold over articles (stratified by label as far as groups allow)."""
    started = time.perf_counter()
    frame = data.model_frame()
    y = frame["label"]
    labels = data.labels
    groups = frame["article_id"].to_numpy()
    n_folds = min(config.folds, len(np.unique(groups)))
    if n_folds < 2:
        raise ValueError("cross-validation needs comments under at least two articles")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=config.random_state)
    n = len(frame)
    scores = np.zeros((n, len(labels)))
    scores_solo = np.zeros((n, len(labels)))
    baseline = np.zeros((n, len(labels)))
    folds = np.zeros(n, dtype=np.int64)
    augmented: list[dict[str, int]] = []
    solo_frame = without_thread(frame)
    splits = list(splitter.split(frame, y, groups))
    # Folds are independent: run them on every core (the machine we target has two).
    outcomes = Parallel(n_jobs=config.n_jobs, return_as="generator")(
        delayed(_run_fold)(frame, solo_frame, y, data.articles, train, test, config, labels)
        for train, test in splits
    )
    for fold, ((_, test), outcome) in enumerate(zip(splits, outcomes, strict=True)):
        scores[test], scores_solo[test], baseline[test], n_augmented = outcome
        augmented.append(n_augmented)
        folds[test] = fold
        if progress:
            progress(f"fold {fold + 1}/{n_folds}: {len(test)} held-out comments "
                     f"under {len(np.unique(groups[test]))} articles")
    return CrossValidation(
        labels=labels, y_true=y.to_numpy(), article_ids=groups, folds=folds, scores=scores,
        scores_without_thread=scores_solo, baseline_scores=baseline, augmented_per_fold=augmented,
        seconds=time.perf_counter() - started,
    )


def _run_fold(frame: pd.DataFrame, solo_frame: pd.DataFrame, y: pd.Series, articles: pd.DataFrame,
              train: np.ndarray, test: np.ndarray, config: TrainingConfig, labels: tuple[str, ...]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Fit ours and the baseline on the training side; score the held-out side (with and without thread)."""
    groups = frame["article_id"].to_numpy()
    train_frame, train_y = frame.iloc[train], y.iloc[train]
    train_articles = articles[articles["article_id"].isin(set(groups[train]))]
    fit_frame, fit_y = training_rows(train_frame, train_y, train_articles, config, labels)
    ours = fit_pipeline(fit_frame, fit_y, config)
    naive = make_baseline_pipeline(random_state=config.random_state).fit(train_frame, train_y)
    return (
        _ordered(ours, ours.predict_proba(frame.iloc[test]), labels),
        _ordered(ours, ours.predict_proba(solo_frame.iloc[test]), labels),
        _ordered(naive, naive.predict_proba(frame.iloc[test]), labels),
        added_rows(fit_frame),
    )


def _ordered(pipeline: Pipeline, probabilities: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Columns in `labels` order; a label missing from a fold's training side scores 0."""
    classes = [str(c) for c in pipeline.classes_]
    out = np.zeros((probabilities.shape[0], len(labels)))
    for j, label in enumerate(labels):
        if label in classes:
            out[:, j] = probabilities[:, classes.index(label)]
    return out


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, labels: tuple[str, ...]) -> dict[str, object]:
    """Per-class precision/recall/F1, macro-F1, accuracy and the confusion matrix (rows true, columns predicted)."""
    predicted = np.asarray(labels, dtype=object)[np.argmax(scores, axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted, labels=list(labels), zero_division=0
    )
    return {
        "per_class": {
            label: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                    "f1": round(float(f1[i]), 4), "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "macro_f1": round(float(f1_score(y_true, predicted, labels=list(labels), average="macro", zero_division=0)), 4),
        "accuracy": round(float(np.mean(predicted == y_true)), 4),
        "confusion_matrix": {
            "labels": list(labels),
            "matrix": confusion_matrix(y_true, predicted, labels=list(labels)).tolist(),
        },
    }
