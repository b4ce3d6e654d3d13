"""Train a bundle: grouped cross-validation, thresholds from its held-out scores, then a final fit on everything."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from model.bundle import ModelBundle
from model.bundle_files import library_versions
from training.calibration import (
    cross_fitted,
    expected_calibration_error,
    fit_temperatures,
    reliability_table,
    rescaled,
)
from training.config import TrainingConfig
from training.data import LabeledData
from training.evaluate import (
    CrossValidation,
    Progress,
    added_rows,
    classification_metrics,
    cross_validate,
    fit_pipeline,
    training_rows,
)
from training.thresholds import action_report, choose_thresholds


@dataclass
class TrainingResult:
    bundle: ModelBundle
    metrics: dict[str, Any]
    cross_validation: CrossValidation


def train(data: LabeledData, config: TrainingConfig, progress: Progress | None = None) -> TrainingResult:
    """Evaluate by article-grouped CV, choose thresholds on its held-out scores, fit on all data, bundle it."""
    started = time.perf_counter()
    labels = data.labels
    if len(labels) < 2:
        raise ValueError(f"training needs at least two labels; the data has only {', '.join(labels) or 'none'}")
    say = progress or (lambda message: None)
    say(f"cross-validating on {data.counts()['comments']} comments under {data.counts()['articles']} articles")
    cv = cross_validate(data, config, progress)
    calibration = calibrate(cv)
    thresholds = choose_thresholds(
        cv.y_true, cv.scores, labels, reject_labels=config.reject_labels,
        reject_precision=config.reject_precision, approve_precision=config.approve_precision,
    )
    say("fitting the final model on all data")
    fit_started = time.perf_counter()
    frame = data.model_frame()
    fit_frame, fit_y = training_rows(frame, frame["label"], data.articles, config, labels)
    pipeline = fit_pipeline(fit_frame, fit_y, config)
    pipeline.named_steps["classifier"].calibrated(calibration["temperatures"])
    fit_seconds = time.perf_counter() - fit_started
    created = datetime.now(UTC)
    data_hash = data.content_hash()
    metrics = cv_metrics(data, cv, thresholds, config)
    metrics["calibration"] = calibration
    metrics["seconds"] = {
        "cross_validation": round(cv.seconds, 2),
        "final_fit": round(fit_seconds, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    version = f"{created:%Y%m%d-%H%M%S}-{data_hash[:8]}"
    metrics["model_version"] = version
    metadata = {
        "version": version,
        "created_at": created.isoformat(),
        "library_versions": library_versions(),
        "training_data": {"source": data.source, "sha256": data_hash, **data.counts(),
                          "added_rows": added_rows(fit_frame)},
        "training_config": config.to_dict(),
        "validation": {
            "protocol": metrics["protocol"],
            "macro_f1": metrics["model"]["macro_f1"],
            "per_class": metrics["model"]["per_class"],
            "baseline_macro_f1": metrics["baseline"]["macro_f1"],
            "actions": metrics["actions"],
            "calibration": {key: calibration[key] for key in ("temperatures", "ece_before", "ece_after")},
        },
        "seconds": metrics["seconds"],
    }
    bundle = ModelBundle(pipeline=pipeline, labels=labels, thresholds=thresholds, metadata=metadata)
    return TrainingResult(bundle=bundle, metrics=metrics, cross_validation=cv)


def calibrate(cv: CrossValidation) -> dict[str, Any]:
    """Temperatures for the final model's heads, from every out-of-fold score; `cv` keeps cross-fitted scores.

    `cv.scores` (what thresholds and every figure use) become each fold's scores rescaled with temperatures
    fitted on the other folds, so the reported calibration is measured on scores the fit never saw.
    """
    before = expected_calibration_error(cv.y_true, cv.scores, cv.labels)
    temperatures = fit_temperatures(cv.scores, cv.y_true, cv.labels)
    cv.uncalibrated_scores = cv.scores
    cv.scores, per_fold = cross_fitted(cv.scores, cv.y_true, cv.folds, cv.labels)
    cv.scores_without_thread = rescaled(cv.scores_without_thread, temperatures, cv.labels)
    return {
        "method": "temperature scaling per head, fitted on grouped out-of-fold scores (cross-fitted by fold)",
        "temperatures": temperatures,
        "temperatures_per_fold": per_fold,
        "ece_before": round(before, 4),
        "ece_after": round(expected_calibration_error(cv.y_true, cv.scores, cv.labels), 4),
        "reliability": reliability_table(cv.y_true, cv.scores, cv.labels),
    }


def cv_metrics(data: LabeledData, cv: CrossValidation, thresholds: Any, config: TrainingConfig) -> dict[str, Any]:
    labels = cv.labels
    metrics: dict[str, Any] = {
        "protocol": f"{int(cv.folds.max()) + 1}-fold cross-validation grouped by article "
                    "(StratifiedGroupKFold); no article in both train and test of a fold",
        "data": {"source": data.source, "sha256": data.content_hash(), "counts": data.counts()},
        "labels": list(labels),
        "model": classification_metrics(cv.y_true, cv.scores, labels),
        "model_without_thread": classification_metrics(cv.y_true, cv.scores_without_thread, labels),
        "baseline": classification_metrics(cv.y_true, cv.baseline_scores, labels),
        "thresholds": thresholds.to_dict(),
        "actions": action_report(cv.y_true, cv.scores, labels, thresholds),
        "config": config.to_dict(),
    }
    solo = int(np.mean([a["without_thread"] for a in cv.augmented_per_fold]))
    moved = int(np.mean([a["moved_off_topic"] for a in cv.augmented_per_fold]))
    parts = []
    if solo:
        parts.append(f"{solo} copies of comments without their thread (thread dropout, same labels)")
    if moved:
        parts.append(f"{moved} off-topic examples made by moving on-topic top-level comments "
                     f"(>= {config.augment_min_terms} words) under an article of another section")
    if parts:
        metrics["augmentation"] = ("training side of each fold, on average: " + "; ".join(parts)
                                   + "; held-out sides are never augmented")
    for name in ("model", "baseline"):
        if "off_topic" in labels:
            metrics[f"{name}_off_topic_f1"] = metrics[name]["per_class"]["off_topic"]["f1"]
    if "off_topic" in labels:
        metrics["off_topic_f1_gain_over_baseline"] = round(
            metrics["model_off_topic_f1"] - metrics["baseline_off_topic_f1"], 4
        )
    return metrics


def evaluate_bundle(bundle: ModelBundle, data: LabeledData) -> dict[str, Any]:
    """Scores of a saved bundle on labeled data (a held-out set, ideally: the bundle may have seen it)."""
    frame = data.model_frame()
    scores = bundle.score_frame(frame)
    y_true = frame["label"].to_numpy()
    unknown = sorted(set(y_true) - set(bundle.labels))
    if unknown:
        raise ValueError(
            f"the data has label(s) {', '.join(unknown)} that model {bundle.version} does not know "
            f"(it knows {', '.join(bundle.labels)})"
        )
    return {
        "protocol": f"saved bundle {bundle.version} scored on {data.source}",
        "data": {"source": data.source, "sha256": data.content_hash(), "counts": data.counts()},
        "labels": list(bundle.labels),
        "model_version": bundle.version,
        "model": classification_metrics(y_true, scores, bundle.labels),
        "thresholds": bundle.thresholds.to_dict(),
        "actions": action_report(y_true, scores, bundle.labels, bundle.thresholds),
    }
