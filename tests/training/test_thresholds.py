"""Thresholds: reject only where held-out precision reached the target."""

from __future__ import annotations

import numpy as np

from model.actions import Thresholds, decide_actions
from training.thresholds import MIN_DECISIONS, action_report, choose_thresholds, lowest_safe_threshold


def test_lowest_safe_threshold_stops_where_precision_drops() -> None:
    scores = np.linspace(1.0, 0.01, 100)
    correct = np.ones(100, dtype=bool)
    correct[60:] = False  # the 40 lowest scores are wrong
    threshold = lowest_safe_threshold(correct, scores, 0.98)
    chosen = scores >= threshold
    assert correct[chosen].mean() >= 0.98
    assert chosen.sum() == 61  # 60 right + 1 wrong = 0.984; a second wrong one would fall below 0.98


def test_too_few_decisions_never_reject() -> None:
    assert lowest_safe_threshold(np.ones(MIN_DECISIONS - 1, dtype=bool), np.ones(MIN_DECISIONS - 1), 0.5) is None


def test_chosen_thresholds_meet_the_target_on_the_data_they_came_from() -> None:
    rng = np.random.default_rng(0)
    labels = ("on_topic", "off_topic", "spam")
    y = rng.choice(labels, size=600, p=[0.6, 0.2, 0.2])
    noise = rng.dirichlet([1, 1, 1], size=600)
    truth = np.eye(3)[[labels.index(v) for v in y]]
    scores = 0.55 * truth + 0.45 * noise
    thresholds = choose_thresholds(y, scores, labels, reject_labels=("spam", "off_topic"), reject_precision=0.98,
                                   approve_precision=0.95)
    report = action_report(y, scores, labels, thresholds)
    assert report["precision"]["reject"] >= 0.98
    assert report["precision"]["approve"] >= 0.95
    assert sum(report["share"].values()) == 1.0 or abs(sum(report["share"].values()) - 1.0) < 1e-3


def test_decide_actions_reject_beats_approve_and_unknown_labels_are_ignored() -> None:
    labels = ("on_topic", "spam")
    scores = np.array([[0.9, 0.1], [0.1, 0.9], [0.55, 0.45]])
    actions = decide_actions(scores, labels, Thresholds(reject={"spam": 0.8, "off_topic": 0.1}, approve=0.8))
    assert list(actions) == ["approve", "reject", "review"]
