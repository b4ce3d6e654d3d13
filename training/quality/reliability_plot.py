"""The transfer report's reliability plot: how often the model is right at each confidence, per real set.

A calibrated model's points lie on the diagonal. Each set's tables are the top-label reliability tables that
`training.quality.corpus_transfer` stores in its details (ours and the naive peer's), so the plot shows the
same bins the expected calibration errors in the headline table are computed from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Detail keys of the transfer protocol that hold reliability tables, and the names shown for them.
SETS = {"youtube": "YouTube Spam (spam)", "qatar": "QatarLiving (off topic)", "omp": "One Million Posts (off topic)"}


def write_reliability_plot(details: dict[str, Any], path: Path) -> bool:
    """Draw one panel per set that has tables; False (nothing written) when none has."""
    panels = [(key, title) for key, title in SETS.items() if details.get(f"{key}: reliability (ours)")]
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6), squeeze=False)
    for axis, (key, title) in zip(axes[0], panels, strict=True):
        axis.plot([0.5, 1.0], [0.5, 1.0], color="#999999", linewidth=1, linestyle="--", label="calibrated")
        for who, colour in (("ours", "#1f5fa8"), ("naive", "#c0392b")):
            table = details.get(f"{key}: reliability ({who})") or []
            rows = [row for row in table if row["count"]]
            if not rows:
                continue
            total = sum(row["count"] for row in rows)
            axis.plot([row["confidence"] for row in rows], [row["accuracy"] for row in rows], color=colour,
                      linewidth=1.2, label="ours" if who == "ours" else "naive peer")
            axis.scatter([row["confidence"] for row in rows], [row["accuracy"] for row in rows], color=colour,
                         s=[12 + 400 * row["count"] / total for row in rows], alpha=0.7)
        axis.set_title(title, fontsize=10)
        axis.set_xlim(0.5, 1.0)
        axis.set_ylim(0.0, 1.0)
        axis.set_xlabel("confidence of the predicted answer")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of those answers that are right")
    axes[0][0].legend(fontsize=8, loc="lower right")
    figure.suptitle("Default model on real sets, no retraining (dot size: share of comments)", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
