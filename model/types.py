"""The plain values that go into and come out of a classify call."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """The article a thread sits under; only title and body are read by the model."""

    id: str
    title: str
    body: str = ""


@dataclass(frozen=True)
class Comment:
    """One comment; `parent_id` names another comment of the same call or one the context already knows."""

    id: str
    text: str
    parent_id: str | None = None


@dataclass(frozen=True)
class Classification:
    """The decision for one comment: always the same shape, whatever the bundle's label set."""

    id: str
    label: str
    scores: dict[str, float]
    action: str
    reasons: list[str] = field(default_factory=list)
