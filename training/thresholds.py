"""Choose the action thresholds from out-of-fold scores, so each automatic decision has a held-out precision.

For every label that may be rejected, the threshold is the lowest score at which "predicted this label with at
least this score" was right at least `reject_precision` of the time on held-out articles, counted over at least
MIN_DECISIONS decisions (fewer cannot show a precision of 0.98). Approve works the same way for on-topic. A label
that never reaches its target is never decided automatically; the report says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model.actions import Thresholds, decide_actions
from model.labels import ACTIONS, APPROVE, ON_TOPIC, REJECT

MIN_DECISIONS = 10  # fewer held-out decisions than this cannot show a precision of 0.98


def lowest_safe_threshold(correct: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """Lowest t with precision of {score >= t} >= target over >= MIN_DECISIONS decisions; None if none."""
    if len(scores) < MIN_DECISIONS:
        return None
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # Ties share a threshold: only the last position of a run of equal scores is a real cut.
    is_cut = np.append(ranked[1:] < ranked[:-1], True)
    ok = np.flatnonzero((precision >= target) & is_cut & (np.arange(len(order)) + 1 >= MIN_DECISIONS))
    if len(ok) == 0:
        return None
    return float(ranked[ok[-1]])


def choose_thresholds(y_true: np.ndarray, scores: np.ndarray, labels: tuple[str, ...], *,
                      reject_labels: tuple[str, ...], reject_precision: float,
                      approve_precision: float) -> Thresholds:
    predicted = np.argmax(scores, axis=1)
    reject: dict[str, float] = {}
    for label in reject_labels:
        if label not in labels:
            continue
        column = labels.index(label)
        mask = predicted == column
        threshold = lowest_safe_threshold(y_true[mask] == label, scores[mask, column], reject_precision)
        if threshold is not None:
            reject[label] = round(threshold, 6)
    approve = None
    if ON_TOPIC in labels:
        column = labels.index(ON_TOPIC)
        mask = predicted == column
        found = lowest_safe_threshold(y_true[mask] == ON_TOPIC, scores[mask, column], approve_precision)
        approve = None if found is None else round(found, 6)
    return Thresholds(reject=reject, approve=approve)


def action_report(y_true: np.ndarray, scores: np.ndarray, labels: tuple[str, ...],
                  thresholds: Thresholds) -> dict[str, Any]:
    """How the thresholds act on held-out comments: share per action, and the precision of each decision."""
    actions = decide_actions(scores, labels, thresholds)
    predicted = np.asarray(labels, dtype=object)[np.argmax(scores, axis=1)]
    n = len(actions)
    report: dict[str, Any] = {"comments": n, "share": {}, "precision": {}, "by_true_label": {}}
    for action in ACTIONS:
        chosen = actions == action
        report["share"][action] = round(float(chosen.mean()) if n else 0.0, 4)
        if action == REJECT and chosen.any():
            report["precision"][REJECT] = round(float(np.mean(predicted[chosen] == y_true[chosen])), 4)
            report["precision"]["reject_not_on_topic"] = round(float(np.mean(y_true[chosen] != ON_TOPIC)), 4)
        if action == APPROVE and chosen.any():
            report["precision"][APPROVE] = round(float(np.mean(y_true[chosen] == ON_TOPIC)), 4)
    for label in labels:
        rows = y_true == label
        report["by_true_label"][label] = {a: int(np.sum(actions[rows] == a)) for a in ACTIONS}
    return report
