"""The training configuration: every knob of a training run, saved into the bundle it produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainingConfig:
    """Defaults are the settings measured in docs and the README; change them here, not in code.

    - `folds`: grouped cross-validation folds (by article); fewer if the data has fewer articles.
    - `reject_precision`: held-out precision a reject decision must reach for each rejected label.
    - `approve_precision`: held-out precision (share truly on-topic) an approve decision must reach.
    - `reject_labels`: labels that may be rejected automatically.
    - `augment_off_topic`: share of on-topic top-level comments also added under a random other article as
      off-topic examples (0 disables); only used when off_topic is a label.
    - `thread_dropout`: share of comments also added alone under their article (no thread), so that the model
      can judge the first comment on a new story.
    - `n_jobs`: cross-validation folds run in parallel (the machine we target has 2 cores).
    - `augment_min_terms`: comments shorter than this are not moved (a "lol" fits under any article).
    - `C`, `spam_C`: inverse regularisation of the topic head and of the spam head (None: the same as C).
    - `general_idf`: weight of general-language word frequencies in the IDF (`model.general_idf`).
    """

    folds: int = 5
    C: float = 2.0
    spam_C: float | None = 32.0
    spam_weight: float = 3.0
    class_weight: str | None = None
    n_features: int = 2**18
    ngram_range: tuple[int, int] = (1, 2)
    char_ngrams: bool = False
    general_idf: float = 1.0
    reject_precision: float = 0.98
    approve_precision: float = 0.95
    reject_labels: tuple[str, ...] = ("spam", "off_topic")
    thread_dropout: float = 0.5
    augment_off_topic: float = 0.0
    augment_min_terms: int = 8
    random_state: int = 0
    n_jobs: int = 2

    def pipeline_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "spam_C": self.spam_C,
            "spam_weight": self.spam_weight,
            "class_weight": self.class_weight,
            "random_state": self.random_state,
            "n_features": self.n_features,
            "ngram_range": self.ngram_range,
            "char_ngrams": self.char_ngrams,
            "general_idf": self.general_idf,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ngram_range"] = list(self.ngram_range)
        data["reject_labels"] = list(self.reject_labels)
        return data
