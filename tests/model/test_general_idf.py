"""The general-language IDF: common English words weigh as common words, whatever our corpus's writers used."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.features import CommentContextFeatures


def frame() -> pd.DataFrame:
    texts = ["The council raised property taxes again", "Library hours cut on Sundays, shameful",
             "Pension costs were ignored by the council", "zyzzyvas quarrel over the budget"]
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(4)], "article_id": "a", "article_key": "a",
                         "parent_id": "", "text": texts, "title": "Council passes budget",
                         "body": "The council voted on the budget."})


def idf_of(features: CommentContextFeatures, word: str) -> float:
    return float(features.idf_[features.hasher_.transform([word]).indices[0]])


def test_a_common_word_the_corpus_never_used_weighs_less_than_a_rare_one() -> None:
    corpus_only = CommentContextFeatures().fit(frame())
    blended = CommentContextFeatures(general_idf=1.0).fit(frame())
    # Unseen by the corpus, both get the corpus's largest weight; general English tells them apart.
    assert idf_of(corpus_only, "thanks") == idf_of(corpus_only, "quokkas")
    assert idf_of(blended, "thanks") < idf_of(blended, "quokkas") - 3
    # A word the general list does not know keeps the corpus's weight.
    assert idf_of(blended, "zyzzyvasx") == idf_of(corpus_only, "zyzzyvasx")
    # ...and the blend stays on the corpus's scale (log of a share, plus one).
    assert np.all(blended.idf_ >= 1.0)
