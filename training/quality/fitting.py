"""How every protocol fits and scores: our settings, the faster solver, one class's probability, held-out scores
over given splits, and parallel fits whose figures do not depend on the number of jobs.

The rule of the package holds here too: features are fitted on the training side only, and every comment is
transformed in its whole thread (its real neighbours' text, never their labels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from model.pipeline import make_baseline_pipeline, make_pipeline
from training.config import TrainingConfig


def ours_config(**changes: Any) -> TrainingConfig:
    """The settings our protocols use: the default training config with character n-grams switched on.

    Character 3-5-grams help on every real set (German compounds, YouTube spellings); they are an existing
    option of CommentContextFeatures, not a change to the model.
    """
    return TrainingConfig(**{"char_ngrams": True, **changes})


def fast_solver(pipeline: Pipeline) -> Pipeline:
    """The same model fitted with liblinear: several times faster than lbfgs on these sets, same objective up to
    liblinear's penalised intercept, so the protocols fit in the time budget."""
    return pipeline.set_params(classifier__solver="liblinear", classifier__tol=1e-3)


def class_scores(pipeline: Pipeline, matrix_or_frame: Any, label: str) -> np.ndarray:
    """Probability of `label` (0 where the pipeline never saw it)."""
    probabilities = pipeline.predict_proba(matrix_or_frame)
    classes = [str(c) for c in pipeline.classes_]
    return probabilities[:, classes.index(label)] if label in classes else np.zeros(len(probabilities))


def run_parallel(jobs: int, tasks: Iterable[Any]) -> list[Any]:
    """Run `delayed(...)` tasks on `jobs` processes, each with one BLAS thread, so that a figure does not depend
    on how many jobs ran (a multi-threaded sum adds in another order and can flip a borderline comment)."""
    return list(Parallel(n_jobs=jobs)(delayed(_single_threaded)(f, args, kwargs) for f, args, kwargs in tasks))


def _single_threaded(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with threadpool_limits(1):
        return function(*args, **kwargs)


def split_scores(frame: pd.DataFrame, positive: str, splits: list[tuple[np.ndarray, np.ndarray]],
                 jobs: int, config: TrainingConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out probability of `positive` for ours and the baseline over the given (train, test) splits."""
    params = (config or ours_config()).pipeline_params()
    outputs = run_parallel(jobs, (delayed(_fit_and_score)(frame, positive, train, test, params)
                                  for train, test in splits))
    ours = np.zeros(len(frame))
    base = np.zeros(len(frame))
    for (_, test), (o, b) in zip(splits, outputs, strict=True):
        ours[test] = o
        base[test] = b
    return ours, base


def _fit_and_score(frame: pd.DataFrame, positive: str, train: np.ndarray, test: np.ndarray,
                   params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    labels = frame["label"].to_numpy()
    pipeline = fast_solver(make_pipeline(**params))
    features = pipeline.named_steps["features"].fit(frame.iloc[train])
    matrix = features.transform(frame)  # every comment in its whole thread
    head = pipeline[1:].fit(matrix[train], labels[train])
    naive = make_baseline_pipeline().fit(frame.iloc[train], labels[train])
    return class_scores(head, matrix[test], positive), class_scores(naive, frame.iloc[test], positive)
