"""Which rows each head of the two-head classifier learns from (`spam_rows`, `topic_rows`)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.classifier import SpamThenTopicClassifier


def rows_saying(word: int, n: int, width: int = 4) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(n), (np.arange(n), np.full(n, word))), shape=(n, width))


def test_the_topic_head_learns_from_the_rows_given_and_refuses_rows_of_one_label() -> None:
    # Our corpus says word 0 is on topic and word 1 off topic; the site's moderators say the opposite.
    corpus = sp.vstack([rows_saying(0, 30), rows_saying(1, 30), rows_saying(2, 10)])
    site = sp.vstack([rows_saying(0, 20), rows_saying(1, 20)])
    X = sp.vstack([corpus, site]).tocsr()
    y = np.array(["on_topic"] * 30 + ["off_topic"] * 30 + ["spam"] * 10 + ["off_topic"] * 20 + ["on_topic"] * 20)
    from_site = np.r_[np.zeros(70, dtype=bool), np.ones(40, dtype=bool)]
    probe = sp.vstack([rows_saying(0, 1), rows_saying(1, 1)]).tocsr()
    on = list(SpamThenTopicClassifier(C=10.0).fit(X, y).classes_).index("on_topic")

    mixed = SpamThenTopicClassifier(C=10.0).fit(X, y).predict_proba(probe)[:, on]
    own = SpamThenTopicClassifier(C=10.0).fit(X, y, topic_rows=from_site).predict_proba(probe)[:, on]
    assert mixed[0] > mixed[1]  # the corpus outweighs the site
    assert own[0] < own[1]  # the site's own notion of off topic
    with pytest.raises(ValueError, match="topic head need both"):
        SpamThenTopicClassifier().fit(X, y, topic_rows=np.r_[np.ones(30, dtype=bool), np.zeros(80, dtype=bool)])
    with pytest.raises(ValueError, match="topic_rows has 3 entries"):
        SpamThenTopicClassifier().fit(X, y, topic_rows=np.ones(3, dtype=bool))
