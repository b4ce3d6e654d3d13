"""The evaluation report: metrics.json for machines, report.md for people, PNG plots for both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluate import CrossValidation


def write_report(folder: Path, metrics: dict[str, Any], cv: CrossValidation | None) -> list[Path]:
    """Write metrics.json, report.md and (when out-of-fold scores exist) the plots; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "metrics.json", folder / "report.md"]
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    plots: list[Path] = []
    if cv is not None:
        plots = [_confusion_plot(folder / "confusion_matrix.png", metrics["model"]["confusion_matrix"]),
                 _precision_recall_plot(folder / "precision_recall.png", cv)]
        if "calibration" in metrics:
            plots.append(reliability_plot(folder / "reliability.png", {
                "before calibration": (cv.y_true, cv.uncalibrated_scores),
                "after (cross-fitted)": (cv.y_true, cv.scores),
            }, cv.labels))
    (folder / "report.md").write_text(render_markdown(metrics, [p.name for p in plots]), encoding="utf-8")
    return written + plots


def render_markdown(metrics: dict[str, Any], plot_names: list[str]) -> str:
    lines = [f"# Evaluation report: model {metrics.get('model_version', '')}", ""]
    lines += [f"- data: `{metrics['data']['source']}` — {metrics['data']['counts']['articles']} articles, "
              f"{metrics['data']['counts']['comments']} comments, labels {metrics['data']['counts']['labels']}",
              f"- protocol: {metrics['protocol']}"]
    if metrics.get("augmentation"):
        lines.append(f"- augmentation: {metrics['augmentation']}")
    if "seconds" in metrics:
        lines.append(f"- time: {_seconds(metrics['seconds'])}")
    lines.append("")
    compared = [("our model", metrics["model"])]
    if "model_without_thread" in metrics:
        compared.append(("our model, no thread context", metrics["model_without_thread"]))
    if "baseline" in metrics:
        compared.append(("naive baseline (comment TF-IDF + LR)", metrics["baseline"]))
    labels = list(metrics["model"]["per_class"])
    header = "| model | macro-F1 | accuracy | " + " | ".join(f"{label} P / R / F1" for label in labels) + " |"
    lines += [header, "|" + "---|" * (3 + len(labels))]
    for name, block in compared:
        cells = [f"{block['per_class'][label]['precision']:.3f} / {block['per_class'][label]['recall']:.3f} / "
                 f"{block['per_class'][label]['f1']:.3f}" for label in labels]
        lines.append(f"| {name} | {block['macro_f1']:.3f} | {block['accuracy']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "## Confusion matrix (our model; rows true, columns predicted)", ""]
    matrix = metrics["model"]["confusion_matrix"]
    lines += ["| true \\ predicted | " + " | ".join(matrix["labels"]) + " |", "|" + "---|" * (1 + len(labels))]
    for label, row in zip(matrix["labels"], matrix["matrix"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    if "actions" in metrics:
        actions = metrics["actions"]
        lines += ["", "## Actions on held-out articles", "",
                  f"Thresholds: `{json.dumps(metrics.get('thresholds', {}))}`", "",
                  "| action | share of comments | precision |", "|---|---|---|"]
        for action, share in actions["share"].items():
            precision = actions["precision"].get(action)
            lines.append(f"| {action} | {share:.3f} | {'' if precision is None else f'{precision:.3f}'} |")
        lines += ["", "| true label | approve | review | reject |", "|---|---|---|---|"]
        for label, counts in actions["by_true_label"].items():
            lines.append(f"| {label} | {counts['approve']} | {counts['review']} | {counts['reject']} |")
    if "calibration" in metrics:
        calibration = metrics["calibration"]
        lines += ["", "## Calibration (grouped out-of-fold scores)", "",
                  f"{calibration['method']}; temperatures {json.dumps(calibration['temperatures'])}.",
                  f"Expected calibration error (top label, 15 bins): {calibration['ece_before']:.4f} before, "
                  f"{calibration['ece_after']:.4f} after.", "",
                  "| top-label probability | comments | mean probability | share right |", "|---|---|---|---|"]
        for row in calibration["reliability"]:
            lines.append(f"| {row['low']:.2f}-{row['high']:.2f} | {row['count']} | {row['confidence']:.3f} | "
                         f"{row['accuracy']:.3f} |")
    for name in plot_names:
        lines += ["", f"![{name}]({name})"]
    return "\n".join(lines) + "\n"


def _seconds(timing: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in timing.items())


def _confusion_plot(path: Path, confusion: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion["matrix"])
    labels = confusion["labels"]
    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=30)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, str(value), ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black")
    axis.set_title("Confusion matrix (held-out articles)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _precision_recall_plot(path: Path, cv: CrossValidation) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figure, axes = plt.subplots(1, len(cv.labels), figsize=(4 * len(cv.labels), 3.6), squeeze=False)
    for j, label in enumerate(cv.labels):
        axis = axes[0, j]
        for name, scores, style in (("ours", cv.scores, "-"), ("baseline", cv.baseline_scores, "--")):
            precision, recall, _ = precision_recall_curve(cv.y_true == label, scores[:, j])
            axis.plot(recall, precision, style, label=name)
        axis.set_title(label)
        axis.set_xlabel("recall")
        axis.set_ylabel("precision")
        axis.set_ylim(0, 1.02)
        axis.legend(loc="lower left")
    figure.suptitle("Precision-recall per class (held-out articles)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def reliability_plot(path: Path, curves: dict[str, tuple[Any, Any]], labels: tuple[str, ...]) -> Path:
    """Share predicted right against top-label probability, one line per named set of scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.calibration import expected_calibration_error, reliability_table

    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for name, (y_true, scores) in curves.items():
        if scores is None:
            continue
        table = reliability_table(y_true, scores, labels)
        ece = expected_calibration_error(y_true, scores, labels)
        axis.plot([row["confidence"] for row in table], [row["accuracy"] for row in table], marker="o",
                  markersize=3, label=f"{name} (ECE {ece:.3f})")
    axis.set_xlabel("probability of the predicted label")
    axis.set_ylabel("share predicted right")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
