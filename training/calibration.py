"""Calibration: temperature scaling of the classifier's heads on grouped out-of-fold scores, and how it is measured.

A logistic regression with weak regularisation says 0.000 and 1.000 about comments it gets wrong. Each head
(spam, topic; `model.classifier`) gets one temperature T, fitted by log loss on the out-of-fold scores of the
grouped cross-validation, and the final model's head weights are divided by it: "0.95" then means 95% on
articles the model never saw. One parameter per head cannot overfit much, but the figures we report are still
cross-fitted: fold k's scores are rescaled with temperatures fitted on the other folds only.

Expected calibration error (ECE) is the top-label ECE: comments are binned by the probability of their
predicted label (15 equal-width bins), and the gaps between that probability and the share predicted right
are averaged, weighted by the bins' sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from model.classifier import ON_TOPIC, SPAM, SPAM_HEAD, TOPIC_HEAD, combine_heads, head_logits_from_scores, heads_for

ECE_BINS = 15
_LOG_T_RANGE = (-3.0, 3.0)  # temperatures between 0.05 and 20


def fit_temperatures(scores: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    """One temperature per head, fitted by log loss on these scores (columns in `labels` order)."""
    heads = heads_for(labels)
    logits = head_logits_from_scores(scores, heads, labels)
    temperatures = {}
    for index, head in enumerate(heads):
        rows, positive = _head_targets(head, np.asarray(y_true))
        temperatures[head] = _fit_one(logits[rows, index], positive[rows]) if rows.any() else 1.0
    return temperatures


def rescaled(scores: np.ndarray, temperatures: dict[str, float], labels: tuple[str, ...]) -> np.ndarray:
    """Scores as the heads would give them with their logits divided by the temperatures."""
    heads = heads_for(labels)
    logits = head_logits_from_scores(scores, heads, labels)
    logits /= np.array([temperatures.get(head, 1.0) for head in heads])
    return combine_heads(logits, heads, labels)


def cross_fitted(scores: np.ndarray, y_true: np.ndarray, folds: np.ndarray,
                 labels: tuple[str, ...]) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Each fold's scores rescaled with temperatures fitted on the other folds (and those temperatures)."""
    out = np.empty_like(scores)
    per_fold = []
    for fold in np.unique(folds):
        held = folds == fold
        temperatures = fit_temperatures(scores[~held], y_true[~held], labels)
        out[held] = rescaled(scores[held], temperatures, labels)
        per_fold.append(temperatures)
    return out, per_fold


def expected_calibration_error(y_true: np.ndarray, scores: np.ndarray, labels: tuple[str, ...],
                               bins: int = ECE_BINS) -> float:
    """Top-label ECE (see the module docstring)."""
    table = reliability_table(y_true, scores, labels, bins)
    n = sum(row["count"] for row in table)
    return float(sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in table) / max(n, 1))


def reliability_table(y_true: np.ndarray, scores: np.ndarray, labels: tuple[str, ...],
                      bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """Per non-empty bin of top-label probability: its range, count, mean probability and share right."""
    confidence = scores.max(axis=1)
    correct = np.asarray(labels, dtype=object)[scores.argmax(axis=1)] == np.asarray(y_true, dtype=object)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            table.append({"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4),
                          "count": int(inside.sum()), "confidence": float(confidence[inside].mean()),
                          "accuracy": float(correct[inside].mean())})
    return table


def binary_calibration(positive: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """ECE and reliability table of one class's probability (for a real set labeled with one class only)."""
    scores = np.column_stack([1.0 - probability, probability])
    labels = ("no", "yes")
    y = np.where(np.asarray(positive, dtype=bool), "yes", "no")
    return {"ece": round(expected_calibration_error(y, scores, labels, bins), 4),
            "table": reliability_table(y, scores, labels, bins)}


def _head_targets(head: str, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows a head is judged on and its positive class: spam on every row; topic on the rows not spam."""
    if head == SPAM_HEAD:
        return np.ones(len(y_true), dtype=bool), y_true == SPAM
    if head == TOPIC_HEAD:
        return y_true != SPAM, y_true == ON_TOPIC
    raise ValueError(f"unknown head {head!r}")


def _fit_one(logits: np.ndarray, positive: np.ndarray) -> float:
    sign = np.where(positive, 1.0, -1.0)

    def loss(log_t: float) -> float:
        z = sign * logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, -z)))  # -log sigmoid(z), stable

    found = minimize_scalar(loss, bounds=_LOG_T_RANGE, method="bounded", options={"xatol": 1e-4})
    return round(float(np.exp(found.x)), 4)
