"""Learning curve: how fast the model learns a site from its moderators' decisions (issue 12).

A site is simulated on each public set with threads: its comments arrive in the set's own order, a moderator
decides the first N (50, 100, 200, 500, 1,000), the model is retrained through `moderate retrain`'s own fit
(`training.retrain.fit_candidate`, which chooses how much of our corpus to keep), and it is measured on the
comments that come after the first 1,000 (the same later comments for every N). Beside it, the naive peer
(word + character n-gram TF-IDF + logistic regression on the comment alone) fitted on the same N decisions.
N = 0 is the default model as `make run` trains it.

    .venv/bin/python bench/learning_curve.py        # writes docs/learning_curve.md and docs/img/learning_curve.png

Orders: YouTube, the five videos interleaved in their own (file) order, so every video is seen from the start;
QatarLiving, questions in id order (the ids grow with time: the set has no dates), answers in file order;
One Million Posts, posts by their time. Fox News and Globe and Mail are left out: every comment there is on
topic (they serve the article-pairing test), so a moderator's decisions hold nothing to learn.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline, make_union

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.bundle import ModelBundle  # noqa: E402
from model.labels import OFF_TOPIC, ON_TOPIC, SPAM  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import LabeledData, load_labeled  # noqa: E402
from training.datasets import ADAPTERS, default_data_root  # noqa: E402
from training.retrain import fit_candidate  # noqa: E402

STEPS = (0, 50, 100, 200, 500, 1000)
TARGETS = {"youtube": 0.93, "qatar": 0.60}  # after 200 decisions (issue 12)


def ordered(key: str, data: LabeledData) -> pd.DataFrame:
    comments = data.comments.reset_index(drop=True)
    if key == "youtube":
        rank = comments.groupby("article_id").cumcount()
        return comments.assign(_rank=rank).sort_values(["_rank"], kind="stable").drop(columns="_rank")
    if key == "qatar":
        number = comments["article_id"].str.extract(r"(\d+)")[0].astype(int)
        return comments.assign(_q=number).sort_values("_q", kind="stable").drop(columns="_q")
    return comments.sort_values("created_at", kind="stable")


def positive_f1(key: str, labels: tuple[str, ...], y: np.ndarray, scores: np.ndarray) -> float:
    predicted = np.asarray(labels)[np.argmax(scores, axis=1)]
    if key == "youtube":
        return float(f1_score(y == SPAM, predicted == SPAM))
    return float(f1_score(y == OFF_TOPIC, predicted != ON_TOPIC))


def positive_auc(key: str, labels: tuple[str, ...], y: np.ndarray, scores: np.ndarray) -> float:
    """How well the scores rank the later comments, whatever the operating point: spam probability on YouTube,
    the probability of not being on topic elsewhere."""
    if key == "youtube":
        return float(roc_auc_score(y == SPAM, scores[:, labels.index(SPAM)]))
    return float(roc_auc_score(y == OFF_TOPIC, 1.0 - scores[:, labels.index(ON_TOPIC)]))


def reject_all_f1(key: str, y: np.ndarray) -> float:
    """The F1 of calling every later comment the positive label: a floor any useful operating point must clear."""
    share = float((y == (SPAM if key == "youtube" else OFF_TOPIC)).mean())
    return 2 * share / (1 + share)


def naive_f1(key: str, site: pd.DataFrame, later: pd.DataFrame) -> float | None:
    target = SPAM if key == "youtube" else OFF_TOPIC
    y = (site["label"] == target).to_numpy()
    if y.all() or not y.any():
        return None
    pipeline = make_pipeline(make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                                        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
                             LogisticRegression(max_iter=2000, C=10.0))
    pipeline.fit(site["text"], y)
    return float(f1_score(later["label"] == target, pipeline.predict(later["text"])))


def curve(key: str, data: LabeledData, corpus: LabeledData, default: ModelBundle, say) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    comments = ordered(key, data)
    later = comments.iloc[STEPS[-1]:]
    later_data = dataclasses.replace(data, comments=later.reset_index(drop=True))
    y = later["label"].to_numpy()
    config = TrainingConfig(general_idf=0.0) if key == "omp" else TrainingConfig()
    rows: list[dict[str, object]] = []
    for n in STEPS:
        started = time.perf_counter()
        if n == 0:
            bundle, share = default, None
        else:
            site = comments.iloc[:n].assign(created_at=np.arange(n, dtype=float))  # decided in the set's order
            site_data = LabeledData(articles=data.articles[data.articles["article_id"].isin(set(site["article_id"]))],
                                    comments=site.reset_index(drop=True), source=key)
            bundle, share, _ = fit_candidate(corpus, site_data, config, fallback=default.thresholds)
            retrained = bundle.metadata["retrained"]
            alone = [f"{head} head on the decisions alone" for head in ("spam", "topic")
                     if retrained.get(f"{head}_head") == "the site's decisions"]
            share = f"{share} (each decision x{retrained['site_weight']}" + "".join(f"; {a}" for a in alone) + ")"
        scores = bundle.score_frame(later_data.model_frame())
        ours, auc = positive_f1(key, bundle.labels, y, scores), positive_auc(key, bundle.labels, y, scores)
        naive = naive_f1(key, comments.iloc[:n], later) if n else None
        rows.append({"decisions": n, "ours": round(ours, 4), "auc": round(auc, 4), "floor": reject_all_f1(key, y),
                     "naive": None if naive is None else round(naive, 4),
                     "corpus_share": share})
        say(f"{key} {n:5d} decisions: ours {ours:.3f}, naive {naive if naive is None else round(naive, 3)}, "
            f"corpus share {share} ({time.perf_counter() - started:.0f} s)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data/labeled")
    parser.add_argument("--sets", default="youtube,qatar,omp")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/learning_curve.md")
    args = parser.parse_args()
    say = lambda message: print(message, flush=True)  # noqa: E731
    corpus, default = load_labeled(args.corpus), ModelBundle.load(args.model)
    started = time.perf_counter()
    results = {key: curve(key, ADAPTERS[key](args.data_root), corpus, default, say) for key in args.sets.split(",")}
    plot = args.out.parent / "img" / "learning_curve.png"
    _plot(results, plot)
    args.out.write_text(_markdown(results, plot.relative_to(args.out.parent), time.perf_counter() - started),
                        encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(  # docs/quality.md quotes it (bench/quality.py)
        {"run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "targets": TARGETS,
         "sets": {key: {"name": NAMES[key][0], "measure": NAMES[key][1], "rows": rows}
                  for key, rows in results.items()}},
        indent=1) + "\n", encoding="utf-8")
    say(f"written to {args.out} and {plot}")


NAMES = {"youtube": ("YouTube Spam", "spam F1"), "qatar": ("SemEval-2015 QatarLiving", "off-topic F1"),
         "omp": ("One Million Posts", "off-topic F1")}


def _plot(results: dict[str, list[dict[str, object]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), squeeze=False)
    for axis, (key, rows) in zip(axes[0], results.items(), strict=True):
        xs = [max(int(r["decisions"]), 10) for r in rows]  # type: ignore[call-overload]
        axis.plot(xs, [r["ours"] for r in rows], "o-", label="ours (retrained)")
        axis.plot(xs[1:], [r["naive"] for r in rows[1:]], "s--", label="naive peer")
        if key in TARGETS:
            axis.axhline(TARGETS[key], color="grey", lw=0.8, ls=":", label="target at 200")
        axis.set_xscale("log")
        axis.set_xticks(xs, ["0"] + [str(r["decisions"]) for r in rows[1:]])
        axis.set_title(NAMES[key][0], fontsize=10)
        axis.set_xlabel("moderators' decisions")
        axis.set_ylabel(NAMES[key][1])
        axis.set_ylim(0, 1)
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def _markdown(results: dict[str, list[dict[str, object]]], plot: Path, seconds: float) -> str:
    lines = ["# Learning curve: the model learning a site from its moderators", "",
             (__doc__ or "").split("\n\n", 1)[1].replace("    .venv", "```sh\n.venv").replace(
                 "learning_curve.png\n", "learning_curve.png\n```\n", 1), "",
             f"This run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s on 2 cores.", "",
             f"![learning curves]({plot})", ""]
    for key, rows in results.items():
        name, metric = NAMES[key]
        lines += [f"## {name}: {metric} on the comments after the first {STEPS[-1]}", "",
                  "| decisions | ours | naive peer | ours, ROC AUC | share of our corpus kept (the retrain's choice) |",
                  "|---:|---:|---:|---:|---:|"]
        for r in rows:
            naive = "" if r["naive"] is None else r["naive"]
            lines.append(f"| {r['decisions']} | {r['ours']} | {naive} | {r['auc']} | "
                         f"{'' if r['corpus_share'] is None else r['corpus_share']} |")
        if key in TARGETS:
            at = next(r for r in rows if r["decisions"] == 200)
            met = "met" if float(at["ours"]) >= TARGETS[key] else "**missed**"  # type: ignore[arg-type]
            lines += ["", f"Target after 200 decisions: {TARGETS[key]}: {at['ours']}, {met}."]
        lines += ["", f"Calling every later comment {metric.split()[0]} scores F1 {float(rows[0]['floor']):.4f}; "  # type: ignore[arg-type]
                  "an F1 near that says little, the ROC AUC says how well the comments are ranked."]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
