"""The measures every protocol reports: P/R/F1, accuracy and AUC of the flagged class, and the errors to read.

One definition for all protocols, so a figure of one protocol means the same as the same figure of another.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, average_precision_score, precision_recall_fscore_support, roc_auc_score


def binary_metrics(y_true: np.ndarray, predicted: np.ndarray, scores: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall and F1 of the positive class, accuracy, and (given scores) ROC AUC and average precision."""
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, predicted, average="binary", zero_division=0)
    out = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
           "accuracy": float(accuracy_score(y_true, predicted)), "positives": int(np.sum(y_true)),
           "flagged": int(np.sum(predicted))}
    if scores is not None and 0 < np.sum(y_true) < len(y_true):
        out["auc"] = float(roc_auc_score(y_true, scores))
        out["average_precision"] = float(average_precision_score(y_true, scores))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def error_sample(frame: pd.DataFrame, y_true: np.ndarray, predicted: np.ndarray, scores: np.ndarray,
                 positive: str, *, n: int = 5, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """A few false positives and false negatives (random, reproducible), with their article and score."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, mask in (("false positives", predicted & ~y_true), ("false negatives", ~predicted & y_true)):
        rows = np.flatnonzero(mask)
        chosen = np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False)) if len(rows) else rows
        out[kind] = [
            {"text": _short(frame["text"].iloc[i]), "article": _short(frame["title"].iloc[i] or "", 80),
             "score": round(float(scores[i]), 3), "true": positive if y_true[i] else "not " + positive}
            for i in chosen
        ]
    return out


def _short(text: object, limit: int = 220) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
