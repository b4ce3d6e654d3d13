"""Retraining on the site's own decisions, guarded so that a new model cannot make things worse.

The site's decisions are split in time, grouped by article (`training.candidate.split_in_time`): the most recent
share (at least MIN_HELD_OUT) is held out, and every decision under one of its articles is left out of training.
Later in time, because that is what the candidate will meet; grouped, because a thread's comments resemble each
other and would flatter a model that saw their neighbours. The candidate is fitted on our corpus plus the older
decisions (`training.candidate.fit_candidate`, which chooses how much the corpus counts), then it and the served
model are judged on the held-out decisions, each comment in the thread the service saw it in.

The rule: promote only if the candidate is not worse, that is, its macro-F1 on the held-out decisions is at least
the served model's AND it rejects no more on-topic comments than the served model does (the costly error: a
reader's honest comment removed). The judged candidate is the one promoted; the held-out decisions join the
training data at the next retrain, so that what is promoted is exactly what was judged.

With fewer decisions than MIN_HELD_OUT + MIN_TRAINING the guard does not judge: the candidate is fitted on every
decision (so that it can be looked at) and is never promoted; the reason says how many decisions are needed.

Decisions whose parent no moderator decided keep that parent by its text (`training.candidate.site_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from model.bundle import ModelBundle
from model.labels import APPROVE, LABELS, ON_TOPIC, REJECT
from training.candidate import (
    CORPUS_WEIGHTS,
    Candidate,
    SiteSplit,
    fit_candidate,
    load_config,
    scoring_frame,
    site_macro_f1,
    split_in_time,
)
from training.config import TrainingConfig
from training.data import COMMENT_COLUMNS, LabeledData

HELD_OUT_SHARE = 0.2
#: Fewer held-out decisions than this cannot tell two models apart: the guard refuses to judge.
MIN_HELD_OUT = 20
#: Site decisions the candidate must have to train on, beside the corpus.
MIN_TRAINING = 20


@dataclass(frozen=True)
class Figures:
    """A model on the held-out decisions."""

    macro_f1: float  # over the labels the held-out decisions hold
    per_label_f1: dict[str, float]
    rejected_on_topic: int  # on-topic comments it would remove: the costly error
    approved_not_on_topic: int  # spam or off-topic comments it would publish without a look
    actions: dict[str, int]
    comments: int

    def to_dict(self) -> dict[str, Any]:
        return {"macro_f1": self.macro_f1, "per_label_f1": self.per_label_f1,
                "rejected_on_topic": self.rejected_on_topic, "approved_not_on_topic": self.approved_not_on_topic,
                "actions": self.actions, "comments": self.comments}


@dataclass
class RetrainResult:
    """The candidate, both models' figures on the held-out decisions, the decision and its reason."""

    candidate: Candidate
    judged: bool
    promote: bool
    reason: str
    candidate_figures: Figures | None = None
    current_figures: Figures | None = None
    split: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def bundle(self) -> ModelBundle:
        return self.candidate.bundle

    def report(self) -> dict[str, Any]:
        return {
            "judged": self.judged, "promote": self.promote, "reason": self.reason,
            "candidate_version": self.bundle.version,
            "candidate": None if self.candidate_figures is None else self.candidate_figures.to_dict(),
            "current": None if self.current_figures is None else self.current_figures.to_dict(),
            "corpus_weight": self.candidate.corpus_weight, "corpus_weight_chosen": self.candidate.chosen,
            "inner_validation_macro_f1": self.candidate.choice, "inner_decisions": self.candidate.inner_decisions,
            "notes": self.candidate.notes, "split": self.split, "counts": self.counts,
        }


def retrain(corpus: LabeledData, site: LabeledData, current: ModelBundle, config: TrainingConfig | None = None, *,
            held_out_share: float = HELD_OUT_SHARE, min_held_out: int = MIN_HELD_OUT,
            min_training: int = MIN_TRAINING, weights: tuple[float, ...] = CORPUS_WEIGHTS) -> RetrainResult:
    """Fit a candidate on the corpus and the older decisions and judge it against `current` on the recent ones."""
    if site.comments.empty:
        raise ValueError("no decisions to retrain on: record moderators' decisions with POST /feedback first")
    unknown = sorted(set(site.comments["label"]) - set(current.labels))
    if unknown:
        raise ValueError(f"decisions with label(s) {', '.join(unknown)} that the served model "
                         f"{current.version} does not have ({', '.join(current.labels)})")
    config = config or load_config(current)
    counts = {"decisions": len(site.comments), "corpus_comments": len(corpus.comments)}
    split = split_in_time(site, held_out_share, min_held_out)
    needed = min_held_out + min_training
    if len(site.comments) < needed or len(split.older.comments) < min_training:
        candidate = fit_candidate(corpus, site, config, labels=current.labels, fallback=current.thresholds,
                                  weights=weights)
        reason = (f"not judged: {len(site.comments)} decisions, of which {len(split.older.comments)} could be "
                  f"trained on apart from the {len(split.recent.comments)} most recent; at least {needed} are needed "
                  f"({min_held_out} held out, {min_training} to train on). The candidate is fitted on all "
                  "of them and is not promoted")
        return RetrainResult(candidate=candidate, judged=False, promote=False, reason=reason,
                             split=split.describe(), counts={**counts, "trained_on": len(site.comments)})
    candidate = fit_candidate(corpus, split.older, config, labels=current.labels, fallback=current.thresholds,
                              weights=weights)
    ours, theirs = evaluate(candidate.bundle, split), evaluate(current, split)
    better = ours.macro_f1 >= theirs.macro_f1 and ours.rejected_on_topic <= theirs.rejected_on_topic
    reason = (f"{'not worse' if better else 'worse'}: on the {ours.comments} most recent decisions, macro-F1 "
              f"{ours.macro_f1:.4f} against the served model's {theirs.macro_f1:.4f}, on-topic comments rejected "
              f"{ours.rejected_on_topic} against {theirs.rejected_on_topic}")
    candidate.bundle.metadata["retrained"].update(
        {"held_out": ours.to_dict(), "served_on_held_out": {"version": current.version, **theirs.to_dict()}})
    counts.update({"trained_on": len(split.older.comments), "held_out": len(split.recent.comments),
                   "left_out_under_held_out_articles": len(split.context.comments)})
    return RetrainResult(candidate=candidate, judged=True, promote=better, reason=reason, candidate_figures=ours,
                         current_figures=theirs, split=split.describe(), counts=counts)


def evaluate(bundle: ModelBundle, split: SiteSplit) -> Figures:
    """A bundle on the held-out decisions of `split`, each scored in its thread (the older decisions under it)."""
    labels = bundle.labels
    scores = bundle.score_frame(scoring_frame(split))[-len(split.recent.comments):]
    y = split.recent.comments["label"].to_numpy()
    predicted = np.asarray(labels, dtype=object)[np.argmax(scores, axis=1)]
    actions = bundle.actions(scores)
    per_label = f1_score(y, predicted, labels=list(labels), average=None, zero_division=0)
    return Figures(
        macro_f1=site_macro_f1(y, scores, labels),
        per_label_f1={label: round(float(v), 4) for label, v in zip(labels, per_label, strict=True)
                      if (y == label).any()},
        rejected_on_topic=int(((actions == REJECT) & (y == ON_TOPIC)).sum()),
        approved_not_on_topic=int(((actions == APPROVE) & (y != ON_TOPIC)).sum()),
        actions={str(a): int(n) for a, n in zip(*np.unique(actions, return_counts=True), strict=True)},
        comments=len(y),
    )


def site_labeled(articles: pd.DataFrame, comments: pd.DataFrame, source: str) -> LabeledData:
    """The site's decisions as LabeledData, oldest first: `comments` needs the corpus's columns and `created_at`
    (the decision's time, epoch seconds); `parent_text` is kept when given. Unlike a labeled-data folder, a
    parent need not be among the comments (a moderator decides replies whose parent nobody decided)."""
    missing = [c for c in (*COMMENT_COLUMNS, "created_at") if c not in comments.columns]
    if missing:
        raise ValueError(f"site decisions lack column(s) {', '.join(missing)}")
    unknown = sorted(set(comments["label"]) - set(LABELS))
    if unknown:
        raise ValueError(f"site decisions with unknown label(s) {', '.join(unknown)}")
    ordered = comments.assign(created_at=comments["created_at"].astype(float)).sort_values(
        "created_at", kind="stable").reset_index(drop=True)
    return LabeledData(articles=articles.reset_index(drop=True), comments=ordered, source=source)
