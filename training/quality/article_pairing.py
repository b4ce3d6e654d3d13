"""Article pairing (Fox News, Globe and Mail): each comment under its own article and under another one.

These sets have no off-topic labels, so the protocol makes its own: the same comment moved under another article
is off-topic by construction. `pairing_matrix` places a comment under any article; the transfer protocol uses it
too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import delayed
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from model.features import CommentContextFeatures, ContextBatch
from model.labels import OFF_TOPIC, ON_TOPIC
from model.pipeline import make_baseline_pipeline, make_pipeline
from model.sparse_ops import group_sums
from model.text import normalize_texts
from training.config import TrainingConfig
from training.data import LabeledData
from training.quality.fitting import class_scores, fast_solver, ours_config, run_parallel
from training.quality.metrics import error_sample
from training.quality.results import PUBLISHED, TARGETS, Figure, Progress, ProtocolResult

#: Regularisation tried in the pairing protocol, chosen on the training articles (lower C: less weight on the
#: comment's own words, which cannot tell the two placements of a comment apart).
PAIRING_C = (0.25, 1.0, 4.0, 16.0)
PAIRING_INNER_FOLDS = 3


def pairing_matrix(features: CommentContextFeatures, frame: pd.DataFrame, targets: np.ndarray, *,
                   thread: bool) -> sp.csr_matrix:
    """Features of each comment of `frame` placed under the article `targets[i]` (an article_id of the frame).

    With `thread`, the comment joins that article's thread: the article's real comments (without itself), as
    the service sees a new comment arriving under a story. Each placed comment sees only the real thread, never
    the other placed comments. Without `thread`, each comment is alone under the article (the first comment).
    """
    texts = normalize_texts(frame["text"])
    comments, totals = features.vectorize(texts)
    first = frame.drop_duplicates("article_id")
    article_ids = first["article_id"].to_numpy()
    row_of = {a: i for i, a in enumerate(article_ids)}
    titles, _ = features.vectorize(normalize_texts(first["title"]))
    bodies, _ = features.vectorize(normalize_texts(first["body"]))
    rows = np.array([row_of[t] for t in targets], dtype=np.int64)
    n = len(frame)
    prior_sums = prior_counts = None
    if thread:
        own = np.array([row_of[a] for a in frame["article_id"]], dtype=np.int64)
        sums = group_sums(comments, own, len(article_ids)).tocsr()
        at_home = rows == own
        prior_sums = (sums[rows] - comments.multiply(at_home[:, None]).tocsr()).tocsr()
        prior_sums.eliminate_zeros()
        prior_sums.sort_indices()
        prior_counts = np.bincount(own, minlength=len(article_ids)).astype(np.float64)[rows] - at_home
    batch = ContextBatch(
        texts=texts, comments=comments, term_totals=totals, article_rows=rows, titles=titles, bodies=bodies,
        parent_rows=np.full(n, -1, dtype=np.int64), parents=comments, thread_groups=np.arange(n),
        thread_prior_sums=prior_sums, thread_prior_counts=prior_counts,
    )
    return features.transform_batch(batch)


def other_articles(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """For each comment, an article of the frame drawn at random among those it was not written under."""
    article_ids = pd.unique(frame["article_id"])
    return np.array([
        article_ids[(list(article_ids).index(a) + 1 + rng.integers(len(article_ids) - 1)) % len(article_ids)]
        for a in frame["article_id"]
    ])


def pairing(data: LabeledData, *, dataset: str, folds: int = 5, jobs: int = 2, progress: Progress | None = None,
            config: TrainingConfig | None = None, c_grid: tuple[float, ...] = PAIRING_C) -> ProtocolResult:
    """Every comment under its own article (on-topic) and under another article drawn at random (off-topic).

    Folds are groups of articles: the model is fitted on the pairs of the training articles (each comment at
    home and moved, in a thread and alone) and tested on the held-out articles, each held-out comment moved
    under another held-out article. AUC of the on-topic score over both versions of every comment; a model
    that reads only the comment gives both versions the same score, hence AUC 0.5 by construction.
    """
    started = time.perf_counter()
    frame = data.model_frame().reset_index(drop=True)
    config = config or ours_config(char_ngrams=False)
    article_ids = pd.unique(frame["article_id"])
    n_folds = min(folds, len(article_ids) // 2)  # at least two articles held out, so one can be moved to the other
    fold_of = _article_folds(frame, n_folds)
    outputs = run_parallel(jobs, (delayed(_pairing_fold)(frame, fold_of, k, config.pipeline_params(), c_grid)
                                  for k in range(n_folds)))
    n = len(frame)
    y = np.r_[np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]
    results: dict[str, np.ndarray] = {}
    for key in ("thread", "alone", "default_C", "baseline"):
        scores = np.zeros(2 * n)
        for k, out in enumerate(outputs):
            rows = np.flatnonzero(fold_of == k)
            scores[rows] = out[key][0]
            scores[n + rows] = out[key][1]
        results[key] = scores
    auc = {key: round(float(roc_auc_score(y, s)), 4) for key, s in results.items()}
    name = {"fox": "Fox News", "globe": "Globe and Mail"}[dataset]
    figures = [
        Figure(name, "article pairing, in the thread", "AUC", auc["thread"], auc["baseline"], PUBLISHED["pairing"],
               TARGETS[dataset]),
        Figure(name, "article pairing, comment alone", "AUC", auc["alone"], auc["baseline"]),
    ]
    if progress:
        progress(f"{dataset} pairing: AUC {auc['thread']:.3f} in the thread, {auc['alone']:.3f} alone")
    moved = np.concatenate([out["moved_to"] for out in outputs])
    order_rows = np.concatenate([np.flatnonzero(fold_of == k) for k in range(n_folds)])
    moved_to = np.empty(n, dtype=object)
    moved_to[order_rows] = moved
    titles = frame.drop_duplicates("article_id").set_index("article_id")["title"]
    shown = pd.concat([frame, frame.assign(title=titles.loc[moved_to].to_numpy())], ignore_index=True)
    off = ~y
    errors = error_sample(shown, off, results["thread"] < 0.5, 1.0 - results["thread"], "moved")
    return ProtocolResult(
        key=f"pairing_{dataset}", title=f"Article pairing: {name} comments",
        setup=(f"{n} comments under {len(article_ids)} articles, {n_folds} folds of whole articles; every held-out "
               "comment scored under its own article and under another held-out article. The article is "
               + ("its title and one-sentence description." if dataset == "fox" else "its title only.")
               + " Errors shown: in the thread, flagged at P(off-topic) >= 0.5; a false positive is a comment under "
               "its own article scored off-topic, a false negative a moved comment scored on-topic."),
        figures=figures, score_meaning="our P(off-topic) for the placement shown",
        details={"AUC (thread, alone, thread with the configured C, baseline)": auc,
                 "C chosen per fold on the training articles": [out["C"] for out in outputs],
                 "configuration": {k: v for k, v in config.pipeline_params().items()}},
        errors=errors, seconds=time.perf_counter() - started,
    )


def _pairing_fold(frame: pd.DataFrame, fold_of: np.ndarray, k: int, params: dict[str, Any],
                  c_grid: tuple[float, ...]) -> dict[str, Any]:
    rng = np.random.default_rng(k)
    train = frame[fold_of != k]
    test = frame[fold_of == k]
    pipeline = fast_solver(make_pipeline(**params))
    features = pipeline.named_steps["features"].fit(train)
    home_train = train["article_id"].to_numpy()
    away_train = other_articles(train, rng)
    blocks = [pairing_matrix(features, train, targets, thread=thread)
              for thread in (True, False) for targets in (home_train, away_train)]
    matrix = sp.vstack(blocks, format="csr")
    n_train = len(train)
    labels = np.array(([ON_TOPIC] * n_train + [OFF_TOPIC] * n_train) * 2)
    # C is chosen on the training articles: inner folds of whole articles, AUC of the in-thread pairs.
    inner_fold = np.tile(_article_folds(train, PAIRING_INNER_FOLDS), 4)
    in_thread = np.arange(len(labels)) < 2 * n_train
    inner_auc: dict[float, float] = {}
    for C in c_grid if len(c_grid) > 1 else ():
        scores = np.zeros(len(labels))
        for j in np.unique(inner_fold):
            held = inner_fold == j
            model = clone(pipeline[1:]).set_params(classifier__C=C).fit(matrix[~held], labels[~held])
            scores[held] = class_scores(model, matrix[held], ON_TOPIC)
        inner_auc[C] = float(roc_auc_score(labels[in_thread] == ON_TOPIC, scores[in_thread]))
    best_C = max(c_grid, key=lambda c: (inner_auc.get(c, 0.0), -c))
    head = pipeline[1:].set_params(classifier__C=best_C).fit(matrix, labels)
    default_head = clone(pipeline[1:]).set_params(classifier__C=params["C"]).fit(matrix, labels)
    naive = make_baseline_pipeline().fit(pd.concat([train] * 4), labels)
    home = test["article_id"].to_numpy()
    away = other_articles(test, rng)
    out: dict[str, Any] = {"moved_to": away, "C": best_C}
    for key, thread in (("thread", True), ("alone", False)):
        tested = [pairing_matrix(features, test, targets, thread=thread) for targets in (home, away)]
        out[key] = tuple(class_scores(head, m, ON_TOPIC) for m in tested)
        if thread:
            out["default_C"] = tuple(class_scores(default_head, m, ON_TOPIC) for m in tested)
    out["baseline"] = (class_scores(naive, test, ON_TOPIC), class_scores(naive, test.assign(article_id=away), ON_TOPIC))
    return out


def _article_folds(frame: pd.DataFrame, n_folds: int) -> np.ndarray:
    """Fold of each comment: whole articles, the largest spread round robin so folds have similar sizes."""
    sizes = frame["article_id"].value_counts()
    order = sorted(pd.unique(frame["article_id"]), key=lambda a: (-sizes[a], a))
    n_folds = max(2, min(n_folds, len(order)))
    fold_of_article = {a: i % n_folds for i, a in enumerate(order)}
    return frame["article_id"].map(fold_of_article).to_numpy()
