"""Retraining on the site's own decisions, guarded so that a new model cannot make things worse.

The site's decisions are split in time, grouped by article: the articles decided most recently are held out
(every decision under them), the model is fitted on the corpus plus the older decisions, and the candidate and
the served model are both judged on the held-out ones. Later in time, because that is what the candidate will
meet; grouped, because a thread's comments resemble each other and would flatter a model that saw them.

How much of our corpus to keep is measured, not assumed: on a public site our writing style can hurt (YouTube,
200 decisions alone 0.931 spam F1, the same mixed with the corpus 0.903, issue 12). The share of the corpus is
chosen by the same kind of split inside the training part (the most recent of its articles), then the model is
refitted on all of it; so is the weight of a site decision against a corpus comment (each decision's rows
repeated that many times).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from model.actions import Thresholds, decide_actions
from model.bundle import ModelBundle
from model.labels import ON_TOPIC, REJECT, ordered_labels
from training.config import TrainingConfig
from training.data import LabeledData
from training.evaluate import fit_pipeline, training_rows
from training.thresholds import choose_thresholds

#: (share of our corpus, weight of each site decision) pairs tried; share 0 is the site's decisions alone, tried
#: only once they hold every label.
CHOICES = ((0.0, 1), (0.05, 8), (0.25, 2), (0.25, 8), (1.0, 2), (1.0, 8))
#: Fewer held-out decisions than this cannot tell two models apart: the guard refuses to judge.
MIN_HOLDOUT = 20
#: Decisions needed in the inner validation before thresholds are chosen from it (else the served model's).
MIN_FOR_THRESHOLDS = 100


class NotEnoughDecisions(ValueError):
    """Too few decisions (or articles) to train and judge a candidate; the message says how many are needed."""


@dataclass
class Figures:
    """A model on the held-out decisions."""

    macro_f1: float
    per_label_f1: dict[str, float]
    wrong_rejects: int  # on-topic comments the model would reject: the costly error
    comments: int

    def to_dict(self) -> dict[str, Any]:
        return {"macro_f1": self.macro_f1, "per_label_f1": self.per_label_f1, "wrong_rejects": self.wrong_rejects,
                "comments": self.comments}


@dataclass
class RetrainResult:
    candidate: ModelBundle
    candidate_figures: Figures
    current_figures: Figures
    promote: bool
    reason: str
    corpus_share: float
    choice: dict[str, float] = field(default_factory=dict)  # inner-validation macro-F1 per corpus share
    counts: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {"promote": self.promote, "reason": self.reason, "corpus_share": self.corpus_share,
                "inner_validation_macro_f1": self.choice, "counts": self.counts,
                "candidate": {"version": self.candidate.version, **self.candidate_figures.to_dict()},
                "current": self.current_figures.to_dict()}


def split_recent(site: LabeledData, share: float) -> tuple[LabeledData, LabeledData]:
    """(older, recent): the articles whose latest decision is most recent, until `share` of the decisions."""
    comments = site.comments
    latest = comments.groupby("article_id")["created_at"].max().sort_values(kind="stable")
    sizes = comments.groupby("article_id").size()
    recent: list[str] = []
    taken = 0
    for article_id in reversed(latest.index.tolist()):
        if taken >= share * len(comments) or len(recent) == len(latest) - 1:
            break
        recent.append(article_id)
        taken += int(sizes[article_id])
    held = comments["article_id"].isin(set(recent))
    return _subset(site, ~held.to_numpy()), _subset(site, held.to_numpy())


def fit_candidate(corpus: LabeledData, site: LabeledData, config: TrainingConfig, *, fallback: Thresholds,
                  choices: tuple[tuple[float, int], ...] = CHOICES) -> tuple[ModelBundle, float, dict[str, float]]:
    """The candidate bundle, the corpus share chosen, and each choice's inner-validation macro-F1.

    A share whose training rows miss one of the corpus's labels (the site's decisions alone, before any
    moderator marked an off-topic comment) is not tried. Calibration temperatures are not refitted: the
    candidate's heads are as fitted (the served model's were fitted on corpus folds that no longer apply).
    """
    labels = corpus.labels
    fit_part, check = split_recent(site, 0.2)
    choice: dict[str, float] = {}
    thresholds = fallback
    chosen, site_weight = 1.0, 2
    if len(check.comments) and len(fit_part.comments):
        best_scores: np.ndarray | None = None
        for share, weight in choices:
            pipeline = _fit(corpus, fit_part, share, weight, config, labels)
            if pipeline is None:
                continue
            scores = _scores(pipeline, check, labels)
            key = f"{share} x{weight}"
            choice[key] = _macro_f1(check, scores, labels)
            if choice[key] > max((v for k, v in choice.items() if k != key), default=-1.0):  # ties keep the earlier
                best_scores, chosen, site_weight = scores, share, weight
        if best_scores is not None and len(check.comments) >= MIN_FOR_THRESHOLDS:
            thresholds = choose_thresholds(check.comments["label"].to_numpy(), best_scores, labels,
                                           reject_labels=config.reject_labels,
                                           reject_precision=config.reject_precision,
                                           approve_precision=config.approve_precision)
    pipeline = _fit(corpus, site, chosen, site_weight, config, labels)
    if pipeline is None:
        raise NotEnoughDecisions("the corpus and the decisions together hold fewer than two labels")
    metadata = {"retrained": {"corpus_share": chosen, "site_weight": site_weight, "site_decisions": len(site.comments),
                              "inner_validation_macro_f1": choice,
                              "thresholds": "chosen on the inner validation" if thresholds is not fallback
                              else "the served model's (too few decisions to choose them)"},
                "version": _version(site)}
    return ModelBundle(pipeline=pipeline, labels=labels, thresholds=thresholds, metadata=metadata), chosen, choice


def evaluate(bundle: ModelBundle, held_out: LabeledData) -> Figures:
    """A bundle's macro-F1, per-label F1 and wrong rejects on held-out decisions, each in its real thread."""
    labels = bundle.labels
    scores = _scores(bundle.pipeline, held_out, labels, bundle=bundle)
    y = held_out.comments["label"].to_numpy()
    predicted = np.asarray(labels)[np.argmax(scores, axis=1)]
    actions = decide_actions(scores, labels, bundle.thresholds)
    per_label = f1_score(y, predicted, labels=list(labels), average=None, zero_division=0)
    present = [label for label in labels if (y == label).any()]
    return Figures(
        macro_f1=round(float(f1_score(y, predicted, labels=present, average="macro", zero_division=0)), 4),
        per_label_f1={label: round(float(v), 4) for label, v in zip(labels, per_label, strict=True)},
        wrong_rejects=int(((actions == REJECT) & (y == ON_TOPIC)).sum()), comments=len(y))


def retrain(corpus: LabeledData, site: LabeledData, current: ModelBundle, config: TrainingConfig | None = None, *,
            holdout_share: float = 0.2, min_holdout: int = MIN_HOLDOUT) -> RetrainResult:
    """Fit a candidate on the corpus and the older decisions; promote it only if, on the most recent decisions,
    its macro-F1 is not lower than the served model's and it wrongly rejects no more on-topic comments."""
    config = config or TrainingConfig()
    unknown = sorted(set(site.comments["label"]) - set(current.labels))
    if unknown:
        raise ValueError(f"decisions with labels the served model does not have: {', '.join(unknown)}")
    if site.comments["article_id"].nunique() < 2:
        raise NotEnoughDecisions("decisions under at least two articles are needed: one to train on, one to judge")
    older, recent = split_recent(site, holdout_share)
    if len(recent.comments) < min_holdout:
        raise NotEnoughDecisions(f"only {len(recent.comments)} recent decisions to judge a candidate on; at least "
                                 f"{min_holdout} are needed ({len(site.comments)} decisions in all)")
    candidate, share, choice = fit_candidate(corpus, older, config, fallback=current.thresholds)
    ours, theirs = evaluate(candidate, recent), evaluate(current, recent)
    better = ours.macro_f1 >= theirs.macro_f1 and ours.wrong_rejects <= theirs.wrong_rejects
    reason = (f"held-out macro-F1 {ours.macro_f1:.4f} against the served model's {theirs.macro_f1:.4f}; wrong "
              f"rejects {ours.wrong_rejects} against {theirs.wrong_rejects}, on {ours.comments} recent decisions")
    counts = {"decisions": len(site.comments), "trained_on": len(older.comments), "held_out": len(recent.comments),
              "corpus_comments": len(corpus.comments)}
    candidate.metadata["retrained"].update({"held_out": ours.to_dict(), "served_on_held_out": theirs.to_dict()})
    return RetrainResult(candidate, ours, theirs, better, ("not worse: " if better else "worse: ") + reason,
                         share, choice, counts)


# -- helpers -----------------------------------------------------------------------------------------------
def _fit(corpus: LabeledData, site: LabeledData, share: float, site_weight: int, config: TrainingConfig,
         labels: tuple[str, ...]) -> Any:
    """Our pipeline on a share of the corpus (whole articles, a fixed draw) and the site's rows repeated
    `site_weight` times; None when that leaves fewer than two labels."""
    parts = []
    if share > 0:
        chosen = _corpus_articles(corpus, share, config.random_state)
        parts.append(_subset(corpus, corpus.comments["article_id"].isin(chosen).to_numpy()))
    parts += [site] * site_weight
    frames = [part.model_frame() for part in parts if len(part.comments)]
    if not frames:
        return None
    frame = pd.concat([f.assign(article_key=f"{i}:" + f["article_key"].astype(str)) for i, f in enumerate(frames)],
                      ignore_index=True)
    if set(frame["label"]) != set(labels):  # a bundle answers every label of the corpus
        return None
    articles = pd.concat([part.articles for part in parts], ignore_index=True).drop_duplicates("article_id")
    fit_frame, fit_y = training_rows(frame, frame["label"], articles, config, labels)
    return fit_pipeline(fit_frame, fit_y, config)


def _scores(pipeline: Any, data: LabeledData, labels: tuple[str, ...], bundle: ModelBundle | None = None
            ) -> np.ndarray:
    frame = data.model_frame()
    if bundle is not None:
        return bundle.score_frame(frame)
    probabilities = pipeline.predict_proba(frame)
    classes = [str(c) for c in pipeline.classes_]
    out = np.zeros((len(frame), len(labels)))
    for column, label in enumerate(labels):
        if label in classes:
            out[:, column] = probabilities[:, classes.index(label)]
    return out


def _macro_f1(data: LabeledData, scores: np.ndarray, labels: tuple[str, ...]) -> float:
    y = data.comments["label"].to_numpy()
    predicted = np.asarray(labels)[np.argmax(scores, axis=1)]
    present = [label for label in labels if (y == label).any()]
    return round(float(f1_score(y, predicted, labels=present, average="macro", zero_division=0)), 4)


def _corpus_articles(corpus: LabeledData, share: float, seed: int) -> set[str]:
    ids = sorted(corpus.articles["article_id"])
    rng = np.random.default_rng(seed)
    return set(rng.permutation(ids)[: max(1, round(share * len(ids)))]) if share < 1 else set(ids)


def _subset(data: LabeledData, keep: np.ndarray) -> LabeledData:
    comments = data.comments[keep].reset_index(drop=True)
    articles = data.articles[data.articles["article_id"].isin(set(comments["article_id"]))].reset_index(drop=True)
    return replace(data, articles=articles, comments=comments)


def _version(site: LabeledData) -> str:
    from datetime import UTC, datetime

    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-site{len(site.comments)}"


def site_labeled(articles: pd.DataFrame, comments: pd.DataFrame, source: str) -> LabeledData:
    """The site's decisions as LabeledData (labels ordered as the model orders them), oldest first."""
    ordered = comments.sort_values("created_at", kind="stable").reset_index(drop=True)
    ordered_labels(ordered["label"].unique())  # raises on an unknown label
    return LabeledData(articles=articles.reset_index(drop=True), comments=ordered, source=source)
