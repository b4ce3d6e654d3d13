"""Subsets of a public set for quick checks: the CI variant of every protocol (bench/quality.py --quick,
tests/training/test_quality.py) runs on these, so its figures are not comparable with the full run's.
"""

from __future__ import annotations

from training.data import LabeledData


def sample_articles(data: LabeledData, *, articles: int | None = None, per_article: int | None = None,
                    comments: int | None = None, seed: int = 0) -> LabeledData:
    """A smaller LabeledData for quick checks: the `articles` largest articles, at most `per_article` comments
    each, then at most `comments` comments in all (random, kept in file order). Replies whose parent is dropped
    lose the link."""
    kept = data.comments
    if articles is not None:
        largest = kept["article_id"].value_counts().index[:articles]
        kept = kept[kept["article_id"].isin(set(largest))]
    shuffled = kept.sample(frac=1.0, random_state=seed)
    if per_article is not None:
        shuffled = shuffled[shuffled.groupby("article_id").cumcount() < per_article]
    if comments is not None:
        shuffled = shuffled.iloc[:comments]
    kept = shuffled.sort_index()
    kept = kept.assign(parent_id=kept["parent_id"].where(kept["parent_id"].isin(set(kept["comment_id"])), ""))
    return LabeledData(articles=data.articles[data.articles["article_id"].isin(set(kept["article_id"]))]
                       .reset_index(drop=True), comments=kept.reset_index(drop=True), source=f"{data.source} (sample)")
