"""What the dense context features are computed from, and the formulas that turn it into columns.

Both feature paths fill a `ContextMeasures` (dot products and counts) their own way, the frame path with
sparse matrices (`model.features`), the service's small batches with sorted arrays (`model.fast.small_batch`),
and then call the same `context_columns`, so the formulas exist once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ContextMeasures:
    """Per comment, what the dense features are computed from: dot products and counts, before any formula.

    `shared_*` count the comment's distinct terms that the article (or parent) also has; the thread sums are
    leave-one-out inputs: `thread_dot` = comment · (sum of every thread comment, itself included),
    `thread_squared` = ||that sum||², `thread_background` = that sum · background, `thread_count` = comments
    in the thread, itself included.
    """

    distinct: np.ndarray
    term_totals: np.ndarray
    sim_title: np.ndarray
    sim_body: np.ndarray
    shared_article: np.ndarray
    is_reply: np.ndarray
    sim_parent: np.ndarray
    shared_parent: np.ndarray
    parent_sim_article: np.ndarray
    own_squared: np.ndarray
    own_background: np.ndarray
    thread_dot: np.ndarray
    thread_squared: np.ndarray
    thread_background: np.ndarray
    thread_count: np.ndarray
    background_squared: float = 0.0

    @classmethod
    def empty(cls, n: int, distinct: np.ndarray, term_totals: np.ndarray) -> ContextMeasures:
        def zeros() -> np.ndarray:
            return np.zeros(n)

        return cls(distinct=distinct, term_totals=term_totals, sim_title=zeros(), sim_body=zeros(),
                   shared_article=zeros(), is_reply=zeros(), sim_parent=zeros(), shared_parent=zeros(),
                   parent_sim_article=zeros(), own_squared=zeros(), own_background=zeros(), thread_dot=zeros(),
                   thread_squared=zeros(), thread_background=zeros(), thread_count=zeros())


def context_columns(m: ContextMeasures, repeated: np.ndarray, *, short_reply_terms: int) -> list[np.ndarray]:
    """The relation columns (`model.features.CONTEXT_NAMES` order) from the measures: the one set of formulas
    both the frame path and the small-batch path (`model.fast.small_batch`) feed."""
    distinct = np.maximum(m.distinct, 1.0)
    others = m.thread_count - 1.0
    others_dot = m.thread_dot - m.own_squared  # own is 1 for a non-empty comment, 0 for an empty one
    others_norm_sq = m.thread_squared - 2.0 * m.thread_dot + m.own_squared
    with np.errstate(invalid="ignore", divide="ignore"):
        sim_thread = np.where(others_norm_sq > 1e-12,
                              others_dot / np.sqrt(np.maximum(others_norm_sq, 1e-12)), 0.0)
        safe = np.maximum(others, 1.0)
        distinctive_dot = others_dot / safe - m.own_background
        distinctive_sq = (others_norm_sq / safe**2 - 2.0 * (m.thread_background - m.own_background) / safe
                          + m.background_squared)
        distinctive = np.where((others > 0) & (distinctive_sq > 1e-12),
                               distinctive_dot / np.sqrt(np.maximum(distinctive_sq, 1e-12)), 0.0)
    sim_thread = np.clip(sim_thread, 0.0, 1.0)
    sim_article = np.maximum(m.sim_title, m.sim_body)
    return [
        m.sim_title,
        m.sim_body,
        np.sqrt(sim_article),
        m.shared_article / distinct,
        m.is_reply,
        m.sim_parent,
        m.shared_parent / distinct,
        m.parent_sim_article,
        m.is_reply * (m.distinct <= short_reply_terms),
        (others > 0).astype(np.float64),
        sim_thread,
        np.sqrt(np.maximum(sim_thread, 0.0)),
        np.clip(distinctive, -1.0, 1.0),
        np.log1p(others),
        np.log1p(m.distinct),
        repeated,
    ]
