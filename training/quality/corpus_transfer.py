"""Transfer: the saved default model, trained only on our corpus, scored on every public set without retraining.

It says how far our corpus carries to other people's comments and labels; the other protocols refit on each set.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from model.bundle import ModelBundle
from model.labels import OFF_TOPIC, ON_TOPIC, SPAM
from model.pipeline import make_baseline_pipeline
from training.calibration import binary_calibration
from training.data import LabeledData
from training.quality.article_pairing import other_articles, pairing_matrix
from training.quality.fitting import class_scores
from training.quality.metrics import binary_metrics, error_sample
from training.quality.results import Figure, Progress, ProtocolResult


def transfer(bundle: ModelBundle, corpus: LabeledData, sets: dict[str, LabeledData], *,
             progress: Progress | None = None) -> ProtocolResult:
    """The saved default model (trained only on our corpus) scored on each real set without retraining.

    The baseline beside it is fitted on the same corpus. A comment counts as flagged off-topic when its most
    likely label is not on_topic (off_topic or spam), as spam when it is spam; AUC uses 1 - P(on_topic) or P(spam).
    """
    started = time.perf_counter()
    corpus_frame = corpus.model_frame()
    naive = make_baseline_pipeline().fit(corpus_frame, corpus_frame["label"])
    labels = list(bundle.labels)
    figures: list[Figure] = []
    details: dict[str, Any] = {"model": bundle.version, "labels": labels}
    errors: dict[str, list[dict[str, Any]]] = {}
    headline: list[dict[str, Any]] = []  # the table docs/quality.md leads with
    for key, data in sets.items():
        frame = data.model_frame()
        if key in ("fox", "globe"):
            features = bundle.pipeline.named_steps["features"]
            rng = np.random.default_rng(0)
            home, away = frame["article_id"].to_numpy(), other_articles(frame, rng)
            y = np.r_[np.ones(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)]
            aucs = {}
            for thread in (True, False):
                on = [bundle.scores_from_features(pairing_matrix(features, frame, t, thread=thread))
                      [:, labels.index(ON_TOPIC)] for t in (home, away)]
                aucs[thread] = round(float(roc_auc_score(y, np.r_[on[0], on[1]])), 4)
            base_on = [class_scores(naive, frame.assign(article_id=t), ON_TOPIC) for t in (home, away)]
            base_auc = round(float(roc_auc_score(y, np.r_[base_on[0], base_on[1]])), 4)
            name = {"fox": "Fox News", "globe": "Globe and Mail"}[key]
            figures.append(Figure(name, "transfer: article pairing, in the thread", "AUC", aucs[True], base_auc))
            figures.append(Figure(name, "transfer: article pairing, comment alone", "AUC", aucs[False], base_auc))
            details[f"{key}: pairing AUC (thread / alone)"] = [aucs[True], aucs[False]]
            headline.append({"set": name, "task": "own article vs another (in the thread)", "measure": "ROC AUC",
                             "ours": aucs[True], "naive": base_auc})
            continue
        scores = bundle.score_frame(frame)
        base = naive.predict_proba(frame)
        base_classes = [str(c) for c in naive.classes_]
        predicted = np.asarray(labels)[np.argmax(scores, axis=1)]
        base_predicted = np.asarray(base_classes)[np.argmax(base, axis=1)]
        if key == "youtube":
            positive, metric, dataset = SPAM, "spam F1", "YouTube Spam"
            y = (frame["label"] == SPAM).to_numpy()
            flagged, base_flagged = predicted == SPAM, base_predicted == SPAM
            score = scores[:, labels.index(SPAM)]
            base_score = base[:, base_classes.index(SPAM)]
        else:
            positive, metric = OFF_TOPIC, "off-topic F1"
            dataset = {"omp": "One Million Posts", "qatar": "SemEval-2015 QatarLiving"}[key]
            y = (frame["label"] == OFF_TOPIC).to_numpy()
            flagged, base_flagged = predicted != ON_TOPIC, base_predicted != ON_TOPIC
            score = 1.0 - scores[:, labels.index(ON_TOPIC)]
            base_score = 1.0 - base[:, base_classes.index(ON_TOPIC)]
        ours_m = binary_metrics(y, flagged, score)
        base_m = binary_metrics(y, base_flagged, base_score)
        figures.append(Figure(dataset, "transfer: all comments", metric, ours_m["f1"], base_m["f1"]))
        figures.append(Figure(dataset, "transfer: all comments", "ROC AUC", ours_m["auc"], base_m["auc"]))
        details[f"{key}: ours"] = ours_m
        details[f"{key}: baseline"] = base_m
        ours_c, base_c = binary_calibration(y, score), binary_calibration(y, base_score)
        details[f"{key}: reliability (ours)"] = ours_c["table"]
        details[f"{key}: reliability (naive)"] = base_c["table"]
        task = "spam" if positive == SPAM else "off topic (not on_topic)"
        share = round(float(np.mean(y)), 3)
        for measure, ours_v, base_v in (("ROC AUC", ours_m.get("auc"), base_m.get("auc")),
                                        ("average precision", ours_m.get("average_precision"),
                                         base_m.get("average_precision")),
                                        ("F1 at the model's decision", ours_m["f1"], base_m["f1"]),
                                        ("expected calibration error", ours_c["ece"], base_c["ece"])):
            headline.append({"set": dataset, "task": f"{task} ({share:.0%} of comments)", "measure": measure,
                             "ours": ours_v, "naive": base_v})
        errors.update({f"{key}, {kind}": rows for kind, rows in
                       error_sample(frame, y, flagged, score, positive.replace("_", "-"), n=3).items()})
        if progress:
            progress(f"transfer {key}: {metric} {ours_m['f1']:.3f} (baseline {base_m['f1']:.3f})")
    details["headline"] = headline
    details["corpus spam share"] = round(float((corpus_frame["label"] == SPAM).mean()), 4)
    calibration = bundle.metadata.get("validation", {}).get("calibration")
    if calibration:
        details["corpus calibration (grouped out-of-fold)"] = calibration
    return ProtocolResult(
        key="transfer", title="Transfer: the default model on real sets, without retraining",
        setup=(f"Bundle {bundle.version}, trained only on {corpus.source} ({len(corpus_frame)} comments); the "
               "baseline is fitted on the same corpus. Every comment is scored in its whole thread."),
        figures=figures, details=details, errors=errors, seconds=time.perf_counter() - started,
    )
