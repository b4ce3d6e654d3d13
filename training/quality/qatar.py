"""SemEval-2015 Task 3, QatarLiving: answers judged against their question, on the official dev and test files."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from model.labels import OFF_TOPIC
from training.config import TrainingConfig
from training.data import LabeledData
from training.quality.fitting import split_scores
from training.quality.metrics import binary_metrics, error_sample
from training.quality.results import PUBLISHED, Figure, Progress, ProtocolResult


def qatar_relevance(data: LabeledData, *, jobs: int = 2, progress: Progress | None = None,
                    config: TrainingConfig | None = None, both_ways: bool = True) -> ProtocolResult:
    """Good (on-topic) vs Bad + Dialogue (off-topic): train on the official dev file, test on the test file,
    and (`both_ways`) the reverse. The question (subject + body) is the article; the other answers are the thread."""
    started = time.perf_counter()
    frame = data.model_frame()
    y = (frame["label"] == OFF_TOPIC).to_numpy()
    split = frame["split"].to_numpy()
    splits = [(np.flatnonzero(split == "dev"), np.flatnonzero(split == "test")),
              (np.flatnonzero(split == "test"), np.flatnonzero(split == "dev"))][: 2 if both_ways else 1]
    ours, base = split_scores(frame, OFF_TOPIC, splits, jobs, config)
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    for (_, test), name in zip(splits, ("dev -> test", "test -> dev")[: len(splits)], strict=True):
        m_ours = binary_metrics(y[test], ours[test] >= 0.5, ours[test])
        m_base = binary_metrics(y[test], base[test] >= 0.5, base[test])
        details[f"ours, {name}"] = m_ours
        details[f"baseline, {name}"] = m_base
        figures.append(Figure("SemEval-2015 QatarLiving", f"train {name}", "off-topic F1", m_ours["f1"],
                              m_base["f1"], PUBLISHED["qatar"] if name == "dev -> test" else ""))
        figures.append(Figure("SemEval-2015 QatarLiving", f"train {name}", "ROC AUC", m_ours["auc"], m_base["auc"]))
        figures.append(Figure("SemEval-2015 QatarLiving", f"train {name}", "accuracy", m_ours["accuracy"],
                              m_base["accuracy"]))
        if progress:
            progress(f"qatar {name}: off-topic F1 {m_ours['f1']:.3f} (baseline {m_base['f1']:.3f})")
    gold = frame["gold"].to_numpy()
    details["share flagged off-topic by fine label (ours / baseline)"] = {
        label: [round(float(np.mean(scores[gold == label] >= 0.5)), 3) for scores in (ours, base)]
        for label in ("Good", "Bad", "Dialogue")
    }
    test = np.flatnonzero(split == "test")
    return ProtocolResult(
        key="qatar", title="SemEval-2015 Task 3, QatarLiving: answers judged against their question",
        setup=(f"{len(frame)} answers under {frame['article_id'].nunique()} questions; our mapping: Good -> "
               "on_topic, Bad and Dialogue -> off_topic; Potential and Not English left out. Decided at the larger "
               "probability. Errors shown: dev -> test."),
        figures=figures, details=details,
        errors=error_sample(frame.iloc[test], y[test], ours[test] >= 0.5, ours[test], "off-topic"),
        seconds=time.perf_counter() - started,
    )
