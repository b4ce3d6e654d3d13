"""Quality on real, human-labeled data: every protocol of docs/quality.md, ours beside the naive baseline.

Each protocol takes LabeledData from `training.datasets`, fits our pipeline and the baseline on the same splits,
and returns a `ProtocolResult`: the figures of the table, further metrics, and a sample of the errors.

Rules every protocol keeps:

- A comment is scored in its real thread. The features read the other comments under the same article; scoring
  a test fold on its own would shrink every thread to the test fold's share of it (a tenth, in 10-fold CV) and
  change the thread features between training and test. So the whole frame is transformed and the test rows are
  read from it: the other comments' *text* is what a moderator sees; labels only ever come from the training side.
- Anything tuned (a decision threshold, the weight of the parent's score) is chosen on out-of-fold scores of the
  training side (inner folds), never on the test fold.
- The baseline is `make_baseline_pipeline()` (TF-IDF of the comment text + logistic regression) on the same rows.

One module per protocol, and the pieces they share:

    omp               One Million Posts: OffTopic on the official folds, threshold and parent weight tuned inside
    youtube           YouTube Spam Collection: stratified folds and leave one video out
    qatar             SemEval-2015 QatarLiving: train on dev, test on test, and the reverse
    article_pairing   Fox News, Globe and Mail: each comment under its own article and under another
    corpus_transfer   the saved default model on every set, without retraining
    results           Figure, ProtocolResult, and the published figures and targets quoted beside ours
    fitting           our settings, the faster solver, held-out scores over splits, single-threaded parallel fits
    metrics           the binary metrics and the error sample every protocol reports
    sampling          subsets for the quick variant

The names below are the ones bench/quality.py and tests/training/test_quality.py call as `quality.<name>`.
"""

from __future__ import annotations

from training.quality.article_pairing import PAIRING_C, pairing
from training.quality.corpus_transfer import transfer
from training.quality.omp import PARENT_WEIGHTS, omp_offtopic
from training.quality.qatar import qatar_relevance
from training.quality.results import ProtocolResult
from training.quality.sampling import sample_articles
from training.quality.surface import surface_statistics
from training.quality.youtube import youtube_spam

__all__ = [
    "PAIRING_C",
    "PARENT_WEIGHTS",
    "ProtocolResult",
    "omp_offtopic",
    "pairing",
    "qatar_relevance",
    "sample_articles",
    "surface_statistics",
    "transfer",
    "youtube_spam",
]
