"""What a quality protocol returns: the rows of the quality table, and the figures quoted beside ours.

Every protocol fills the same `ProtocolResult`, so bench/quality.py renders any of them (docs/quality.md, JSON)
without knowing which protocol ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Progress = Callable[[str], None]

#: Figures others published, quoted in the table beside ours (see docs/quality.md for the sources).
PUBLISHED = {
    "omp": "best 0.3128 (BOCID); BOW 0.2553; LSTM 0.2689; all off-topic 0.278 (Schabus et al. 2017)",
    "youtube": "about 0.95 (TF-IDF + linear SVM, Alberto et al. 2015)",
    "youtube_lovo": "none (our split)",
    "qatar": "none for this binary mapping (3-class task: best macro-F1 0.5719, Nakov et al. 2015)",
    "pairing": "none (our construction; comment-only model 0.5 by design)",
    "transfer": "none",
}
#: What the issue asks of each figure.
TARGETS = {
    "omp": 0.35,
    "youtube": 0.965,
    "youtube_lovo": 0.94,
    "globe": 0.90,
    "fox": 0.80,
}


@dataclass
class Figure:
    """One row of the quality table."""

    dataset: str
    protocol: str
    metric: str
    ours: float
    baseline: float | None
    published: str = ""
    target: float | None = None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ours >= self.target


@dataclass
class ProtocolResult:
    key: str
    title: str
    setup: str
    figures: list[Figure]
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0
    score_meaning: str = "our probability of the flagged class"
