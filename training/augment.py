"""Off-topic examples made by moving on-topic comments under an article they were not written for.

Real off-topic comments are few; an on-topic comment placed under an unrelated article is off-topic by
construction, and teaches the model that the relation to the article, not the comment's words, decides.
Only top-level comments of some length are moved (a "lol" or a reply fits anywhere), and only to an article
of another section where sections are known, so the moved comment is really unrelated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.labels import OFF_TOPIC, ON_TOPIC


def moved_off_topic(frame: pd.DataFrame, labels: pd.Series, articles: pd.DataFrame, *, share: float,
                    min_terms: int, random_state: int) -> tuple[pd.DataFrame, pd.Series]:
    """New rows: a sample of on-topic comments, each under another article, labelled off_topic.

    Each moved comment gets a thread of its own (no parent, no thread), like a lone comment on a new story.
    """
    if share <= 0 or len(articles) < 2:
        return frame.iloc[:0], labels.iloc[:0]
    rng = np.random.default_rng(random_state)
    terms = frame["text"].str.count(r"\b\w\w+\b").fillna(0)
    top_level = frame["parent_id"].fillna("").eq("")
    candidates = np.flatnonzero(((labels == ON_TOPIC) & top_level & (terms >= min_terms)).to_numpy())
    if len(candidates) == 0:
        return frame.iloc[:0], labels.iloc[:0]
    chosen = rng.choice(candidates, size=max(1, int(len(candidates) * share)), replace=False)
    article_ids = articles["article_id"].to_numpy()
    sections = (articles["section"] if "section" in articles else pd.Series([""] * len(articles))).fillna("")
    section_of = dict(zip(article_ids, sections, strict=True))
    by_id = articles.set_index("article_id")
    moved = frame.iloc[chosen].copy()
    targets = []
    for own in moved["article_id"]:
        own_section = section_of.get(own, "")
        pool = [a for a in article_ids if a != own and (not own_section or section_of[a] != own_section)]
        if not pool:
            pool = [a for a in article_ids if a != own]
        targets.append(pool[int(rng.integers(len(pool)))])
    moved["article_id"] = targets
    moved["title"] = by_id.loc[targets, "title"].to_numpy()
    moved["body"] = by_id.loc[targets, "body"].to_numpy()
    moved["comment_id"] = [f"moved:{cid}" for cid in moved["comment_id"]]
    moved["article_key"] = [f"moved:{cid}" for cid in moved["comment_id"]]
    moved["parent_id"] = ""
    return moved, pd.Series([OFF_TOPIC] * len(moved), index=moved.index, name=labels.name)
