"""YouTube Spam Collection: spam F1 on the published stratified folds, and on a video the model never saw."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from model.labels import SPAM
from training.config import TrainingConfig
from training.data import LabeledData
from training.quality.fitting import split_scores
from training.quality.metrics import binary_metrics, error_sample
from training.quality.results import PUBLISHED, TARGETS, Figure, Progress, ProtocolResult


def youtube_spam(data: LabeledData, *, jobs: int = 2, progress: Progress | None = None,
                 folds: int = 10, config: TrainingConfig | None = None) -> ProtocolResult:
    """Spam F1 and accuracy: stratified 10-fold (as published) and leave one video out (a video never seen).

    Ours: our pipeline with character n-grams (`ours_config`), decided at the larger probability.
    """
    started = time.perf_counter()
    frame = data.model_frame()
    y = (frame["label"] == SPAM).to_numpy()
    stratified = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(frame, y))
    videos = frame["video"].to_numpy()
    by_video = [(np.flatnonzero(videos != v), np.flatnonzero(videos == v)) for v in pd.unique(videos)]
    n_videos = len(by_video)
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    errors: dict[str, list[dict[str, Any]]] = {}
    for name, splits, key in ((f"stratified {folds}-fold", stratified, "youtube"),
                              ("leave one video out", by_video, "youtube_lovo")):
        ours, base = split_scores(frame, SPAM, splits, jobs, config)
        m_ours = binary_metrics(y, ours >= 0.5, ours)
        m_base = binary_metrics(y, base >= 0.5, base)
        figures.append(Figure("YouTube Spam", name, "spam F1", m_ours["f1"], m_base["f1"],
                              PUBLISHED[key], TARGETS[key]))
        figures.append(Figure("YouTube Spam", name, "accuracy", m_ours["accuracy"], m_base["accuracy"]))
        details[f"ours, {name}"] = m_ours
        details[f"baseline, {name}"] = m_base
        if key == "youtube_lovo":
            details["spam F1 per held-out video (ours / baseline)"] = {
                str(v): [binary_metrics(y[rows], scores[rows] >= 0.5)["f1"] for scores in (ours, base)]
                for v, (_, rows) in zip(pd.unique(videos), by_video, strict=True)
            }
            errors = error_sample(frame, y, ours >= 0.5, ours, "spam")
        if progress:
            progress(f"youtube {name}: spam F1 {m_ours['f1']:.3f} (baseline {m_base['f1']:.3f})")
    return ProtocolResult(
        key="youtube", title="YouTube Spam Collection",
        setup=(f"{len(frame)} comments ({int(y.sum())} spam) under {n_videos} music videos; the video title is the "
               "article. Every comment is scored among all comments of its video (its thread). Errors shown: "
               "leave one video out."),
        figures=figures, details=details, errors=errors, seconds=time.perf_counter() - started,
    )
