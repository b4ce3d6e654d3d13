"""The label set and the actions a moderator takes, in one place so every layer agrees on spelling."""

from __future__ import annotations

from typing import Final, Literal

ON_TOPIC: Final = "on_topic"
OFF_TOPIC: Final = "off_topic"
SPAM: Final = "spam"
LABELS: Final[tuple[str, ...]] = (ON_TOPIC, OFF_TOPIC, SPAM)

APPROVE: Final = "approve"
REVIEW: Final = "review"
REJECT: Final = "reject"
ACTIONS: Final[tuple[str, ...]] = (APPROVE, REVIEW, REJECT)

Label = Literal["on_topic", "off_topic", "spam"]
Action = Literal["approve", "review", "reject"]


def ordered_labels(labels: object) -> tuple[str, ...]:
    """The given labels in canonical order, so a bundle's score columns never depend on data order."""
    present = set(labels)  # type: ignore[call-overload]
    return tuple(label for label in LABELS if label in present)
