"""Retraining on the site's own decisions, guarded so that a new model cannot make things worse.

The site's decisions are split in time, grouped by article: the articles decided most recently are held out
(every decision under them), the model is fitted on the corpus plus the older decisions, and the candidate and
the served model are both judged on the held-out ones. Later in time, because that is what the candidate will
meet; grouped, because a thread's comments resemble each other and would flatter a model that saw them.

How much of our corpus to keep is measured, not assumed: on a public site our writing style can hurt (YouTube,
200 decisions alone 0.931 spam F1, the same mixed with the corpus 0.903, issue 12). The share of the corpus is
chosen on the last fifth of the training part's decisions, then the model is refitted on all of it; so is the
weight of a site decision against a corpus comment (each decision's rows repeated that many times), and whether
the spam head learns from the site's decisions alone: spam is a property of the comment, and a site's own spam is
best told by its own moderators (YouTube, 200 decisions: spam F1 0.931 with the spam head on them alone against
0.892-0.911 mixed with any share of the corpus, docs/learning_curve.md; with 40 inner decisions several mixes
often tie, and ties go to the site's spam head, see CHOICES), while the topic head still needs our corpus on a
site that never marks a comment off topic. Once the decisions hold MIN_SITE_LABEL off-topic and on-topic
comments, a topic head on the site's decisions alone is tried as well (the spam head then keeps a quarter of
our corpus): on the corpus of the third round the inner validation chose it for QatarLiving at 500 decisions,
0.609 -> 0.645 off-topic F1 on the later answers (ROC AUC 0.785 -> 0.770: more of them flagged, ranked a little
worse); at 200 it was not chosen, and forced it gave 0.404 against 0.463. On the fourth round's corpus it is
chosen there again (QatarLiving at 500: 0.629; docs/learning_curve.md has each run's choices).

What the inner validation is not used for: moving each head's operating point. A logit shift per head chosen on
the same 40 decisions (or matched to the decisions' label shares) moved the later QatarLiving F1 from 0.44-0.48
to anywhere between 0.24 and 0.58 depending on the mix, and lowered YouTube's; the thresholds of the actions are
chosen there only from MIN_FOR_THRESHOLDS decisions up.

The inner choice is split in time only, not grouped by article: 160 decisions on a site with few articles
(YouTube's five videos) grouped would hold out one whole thread, and the choice would rest on it (spam F1 0.892
at 200 decisions that way, 0.930 split in time). The candidate then meets the site's next comments, under known
and new articles alike, as it will when served; the guard above stays grouped, so a candidate flattered by a
thread it saw still cannot pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from model.actions import Thresholds, decide_actions
from model.bundle import ModelBundle
from model.labels import OFF_TOPIC, ON_TOPIC, REJECT, SPAM, ordered_labels
from training.config import TrainingConfig
from training.data import LabeledData
from training.evaluate import fit_pipeline, training_rows
from training.thresholds import choose_thresholds


class Mix(NamedTuple):
    """One way of mixing our corpus with the site's decisions."""

    share: float  # share of our corpus's articles kept; 0 is the site's decisions alone
    weight: int  # each site decision's rows repeated this many times
    site_spam: bool = False  # the spam head learns from the site's decisions alone
    site_topic: bool = False  # the topic head learns from the site's decisions alone

    @property
    def key(self) -> str:
        return (f"{self.share} x{self.weight}" + (", spam head on the site's decisions" if self.site_spam else "")
                + (", topic head on the site's decisions" if self.site_topic else ""))


#: The mixes tried, in order of preference: on a tie in the inner validation the earlier one wins. Share 0 is tried
#: only once the decisions hold every label; a spam head on the site's decisions only once they hold MIN_SITE_LABEL
#: spam and MIN_SITE_LABEL other comments; a topic head on them only once they hold MIN_SITE_LABEL off-topic and
#: MIN_SITE_LABEL on-topic comments. Those come first: on 40 inner-validation decisions several mixes often
#: score the same, and a spam head learned from the site's own moderators is the one that does not carry our
#: corpus's spam style (docs/learning_curve.md: YouTube at 200 decisions, 0.905 with the corpus's spam head, 0.931
#: with the site's).
CHOICES = (Mix(0.25, 8, site_spam=True), Mix(1.0, 2, site_spam=True), Mix(0.25, 1, site_topic=True),
           Mix(0.0, 1), Mix(0.05, 8), Mix(0.25, 2), Mix(0.25, 8), Mix(1.0, 2), Mix(1.0, 8))
MIN_SITE_LABEL = 20  # decisions of each label a head learned from the site's decisions alone needs
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
    choice: dict[str, float] = field(default_factory=dict)  # inner-validation macro-F1 per mix (Mix.key)
    counts: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {"promote": self.promote, "reason": self.reason, "corpus_share": self.corpus_share,
                "spam_head_learns_from": self.candidate.metadata["retrained"]["spam_head"],
                "topic_head_learns_from": self.candidate.metadata["retrained"]["topic_head"],
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


def split_later(site: LabeledData, share: float) -> tuple[LabeledData, LabeledData]:
    """(older, later): the decisions in the order they were made, the last `share` of them held out."""
    order = np.argsort(site.comments["created_at"].to_numpy(), kind="stable")  # ties keep the stored order
    keep = np.ones(len(order), dtype=bool)
    keep[order[len(order) - max(1, round(share * len(order))):]] = False
    return _subset(site, keep), _subset(site, ~keep)


def fit_candidate(corpus: LabeledData, site: LabeledData, config: TrainingConfig, *, fallback: Thresholds,
                  choices: tuple[Mix, ...] = CHOICES) -> tuple[ModelBundle, float, dict[str, float]]:
    """The candidate bundle, the corpus share chosen, and each mix's inner-validation macro-F1.

    A mix whose training rows miss one of the corpus's labels (the site's decisions alone, before any
    moderator marked an off-topic comment) is not tried. Calibration temperatures are not refitted: the
    candidate's heads are as fitted (the served model's were fitted on corpus folds that no longer apply).
    """
    labels = corpus.labels
    fit_part, check = split_later(site, 0.2)
    choice: dict[str, float] = {}
    thresholds = fallback
    chosen = Mix(1.0, 2)
    if len(check.comments) and len(fit_part.comments):
        best_scores: np.ndarray | None = None
        for mix in choices:
            pipeline = _fit(corpus, fit_part, mix, config, labels)
            if pipeline is None:
                continue
            scores = _scores(pipeline, check, labels)
            choice[mix.key] = _macro_f1(check, scores, labels)
            if choice[mix.key] > max((v for k, v in choice.items() if k != mix.key), default=-1.0):  # ties: earlier
                best_scores, chosen = scores, mix
        if best_scores is not None and len(check.comments) >= MIN_FOR_THRESHOLDS:
            thresholds = choose_thresholds(check.comments["label"].to_numpy(), best_scores, labels,
                                           reject_labels=config.reject_labels,
                                           reject_precision=config.reject_precision,
                                           approve_precision=config.approve_precision)
    pipeline = _fit(corpus, site, chosen, config, labels)
    if pipeline is None and (chosen.site_spam or chosen.site_topic):  # the inner part had enough, the whole may
        chosen = chosen._replace(site_spam=False, site_topic=False)  # not: never
        pipeline = _fit(corpus, site, chosen, config, labels)
    if pipeline is None:
        raise NotEnoughDecisions("the corpus and the decisions together hold fewer than two labels")
    metadata = {"retrained": {"corpus_share": chosen.share, "site_weight": chosen.weight,
                              "spam_head": "the site's decisions" if chosen.site_spam else "corpus and decisions",
                              "topic_head": "the site's decisions" if chosen.site_topic else "corpus and decisions",
                              "site_decisions": len(site.comments),
                              "inner_validation_macro_f1": choice,
                              "thresholds": "chosen on the inner validation" if thresholds is not fallback
                              else "the served model's (too few decisions to choose them)"},
                "version": _version(site)}
    bundle = ModelBundle(pipeline=pipeline, labels=labels, thresholds=thresholds, metadata=metadata)
    return bundle, chosen.share, choice


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
def _fit(corpus: LabeledData, site: LabeledData, mix: Mix, config: TrainingConfig, labels: tuple[str, ...]) -> Any:
    """Our pipeline on a share of the corpus (whole articles, a fixed draw) and the site's rows repeated
    `mix.weight` times; None when that leaves fewer than two labels, or too little spam for a site spam head."""
    if mix.site_spam:
        spam = int((site.comments["label"] == SPAM).sum())
        if min(spam, len(site.comments) - spam) < MIN_SITE_LABEL:
            return None
    if mix.site_topic:
        off = int((site.comments["label"] == OFF_TOPIC).sum())
        if min(off, int((site.comments["label"] == ON_TOPIC).sum())) < MIN_SITE_LABEL:
            return None
    parts = [(site, True)] * mix.weight
    if mix.share > 0:
        chosen = _corpus_articles(corpus, mix.share, config.random_state)
        parts.insert(0, (_subset(corpus, corpus.comments["article_id"].isin(chosen).to_numpy()), False))
    frames = [part.model_frame().assign(**{FROM_SITE: from_site}) for part, from_site in parts if len(part.comments)]
    if not frames:
        return None
    frame = pd.concat([f.assign(article_key=f"{i}:" + f["article_key"].astype(str)) for i, f in enumerate(frames)],
                      ignore_index=True)
    if set(frame["label"]) != set(labels):  # a bundle answers every label of the corpus
        return None
    articles = pd.concat([part.articles for part, _ in parts], ignore_index=True).drop_duplicates("article_id")
    fit_frame, fit_y = training_rows(frame, frame["label"], articles, config, labels)  # copies keep FROM_SITE
    from_site = fit_frame.pop(FROM_SITE).to_numpy(dtype=bool)
    return fit_pipeline(fit_frame, fit_y, config, spam_rows=from_site if mix.site_spam else None,
                        topic_rows=from_site if mix.site_topic else None)


FROM_SITE = "_from_site"  # a column of the training rows: the row is one of the site's decisions


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
