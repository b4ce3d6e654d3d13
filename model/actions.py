"""From scores to what a moderator does: approve, review or reject.

Reject is automatic removal, so it is only taken where the held-out precision of that decision reached the
configured target (0.98 by default); approve likewise has its own precision target; everything in between goes
to a human. The thresholds are chosen in training (`training.thresholds`) and stored in the bundle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from model.labels import APPROVE, ON_TOPIC, REJECT, REVIEW


@dataclass(frozen=True)
class Thresholds:
    """`reject[label]`: minimum score of `label` to reject; `approve`: minimum on-topic score to approve.

    A label missing from `reject` is never rejected automatically; `approve=None` means never approve.
    """

    reject: dict[str, float] = field(default_factory=dict)
    approve: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Thresholds:
        reject = data.get("reject") or {}
        approve = data.get("approve")
        return cls(
            reject={str(k): float(v) for k, v in dict(reject).items()},  # type: ignore[call-overload]
            approve=None if approve is None else float(approve),  # type: ignore[arg-type]
        )


def decide_actions(scores: np.ndarray, labels: tuple[str, ...], thresholds: Thresholds) -> np.ndarray:
    """One action per row of `scores` (columns in `labels` order): reject beats approve beats review."""
    n = scores.shape[0]
    actions = np.full(n, REVIEW, dtype=object)
    if n == 0:
        return actions
    predicted = np.argmax(scores, axis=1)
    if thresholds.approve is not None and ON_TOPIC in labels:
        column = labels.index(ON_TOPIC)
        approve = (predicted == column) & (scores[:, column] >= thresholds.approve)
        actions[approve] = APPROVE
    for label, threshold in thresholds.reject.items():
        if label not in labels:
            continue
        column = labels.index(label)
        reject = (predicted == column) & (scores[:, column] >= threshold)
        actions[reject] = REJECT
    return actions
