"""Features that relate a comment to its article, its parent and its thread, plus the comment's own words.

Off-topic is relative: "the bench was awful tonight" belongs under a basketball recap and not under a story on
Iraq. So beside the comment's own hashed TF-IDF terms, every comment gets:

- its cosine similarity to the article title and body, and the share of its terms that the article uses;
- for replies, its similarity to the parent and the parent's similarity to the article (a two-word reply
  like "Source?" is on topic exactly when the comment it answers is);
- its similarity to the rest of the thread (leave-one-out): what the other readers under this article talk
  about is a strong signal of what this article's comment section is about;
- the spam cues of `model.cues`.

Terms are hashed (no vocabulary) so that words of tomorrow's articles, unseen in training, still count in the
similarities: an unseen bucket gets the highest IDF, as a rare word should. Every similarity is computed for a
whole batch as sparse row-wise products; an article is vectorised once per batch, never once per comment.

The transformer follows scikit-learn's conventions (keyword-only parameters stored as given, learned state ends
in `_`, `check_is_fitted` before use) so it works in a `Pipeline`, under `GridSearchCV` and with joblib.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils.validation import check_is_fitted

from model.context_measures import ContextMeasures, context_columns
from model.cues import CUE_NAMES, spam_cues
from model.general_idf import general_idf
from model.linking import link_parents
from model.sparse_ops import (
    group_sums,
    row_ids,
    rowwise_dot,
    rowwise_dots,
    squared_row_norms,
)
from model.text import normalize_texts
from model.weighting import weigh_rows

#: Columns the transformer reads from a DataFrame. `article_key` groups rows that share an article (and thread).
REQUIRED_COLUMNS: tuple[str, ...] = ("text", "article_key", "title", "body")
OPTIONAL_COLUMNS: tuple[str, ...] = ("comment_id", "parent_id", "parent_text")

#: Dense columns that relate the comment to its article, parent or thread (the spam head never sees these).
RELATION_NAMES: tuple[str, ...] = (
    "similarity to the article title",
    "similarity to the article body",
    "similarity to the article (sqrt)",
    "share of words found in the article",
    "is a reply",
    "similarity to the parent comment",
    "share of words found in the parent",
    "parent's similarity to the article",
    "short reply",
    "has other comments in the thread",
    "similarity to the rest of the thread",
    "similarity to the thread (sqrt)",
    "similarity to the thread's distinctive terms",
    "thread size (log)",
)
#: Dense columns about the comment alone, kept whether or not context is on.
OWN_NAMES: tuple[str, ...] = ("distinct terms (log)", "repeated terms")
CONTEXT_NAMES: tuple[str, ...] = RELATION_NAMES + OWN_NAMES
DENSE_NAMES: tuple[str, ...] = CONTEXT_NAMES + tuple(f"spam cue: {name}" for name in CUE_NAMES)
#: Dense columns that measure how long the comment is (`length_columns`).
LENGTH_NAMES: tuple[str, ...] = ("distinct terms (log)", "repeated terms", "spam cue: log_chars")

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
DENSE_CLIP = 5.0
_SHORT_REPLY_TERMS = 6


@dataclass
class ContextBatch:
    """Everything the features need for a batch, already vectorised.

    `transform` builds one from a DataFrame; the service builds one from its caches (article vectors computed
    once per article, thread sums kept as comments arrive) so that nothing is recomputed per request.
    """

    texts: list[str]
    comments: sp.csr_matrix  # n × F, TF-IDF, rows l2-normalised
    term_totals: np.ndarray  # n, hashed term count before weighting (for repetition)
    article_rows: np.ndarray  # n, row of titles/bodies for each comment
    titles: sp.csr_matrix  # n_articles × F
    bodies: sp.csr_matrix  # n_articles × F
    parent_rows: np.ndarray  # n, row of `parents` for each comment, -1 for top-level
    parents: sp.csr_matrix  # m × F
    thread_groups: np.ndarray  # n, thread of each comment
    thread_prior_sums: sp.csr_matrix | None = None  # n_threads × F, comments outside the batch
    thread_prior_counts: np.ndarray | None = None  # n_threads
    thread_prior_squared_norms: np.ndarray | None = None  # n_threads, ||prior sum||² (computed if missing)
    # Or the whole threads, this batch's comments included (a batch job knows them from its first pass):
    thread_sums: sp.csr_matrix | None = None  # n_threads × F, sorted indices
    thread_counts: np.ndarray | None = None  # n_threads


class CommentContextFeatures(TransformerMixin, BaseEstimator):
    """Turn a frame of comments with their article (and parent) into one sparse feature matrix.

    Parameters
    ----------
    n_features : number of hash buckets for word n-grams.
    ngram_range : word n-gram range of the comment terms.
    char_ngrams : add hashed character 3–5-grams of the comment (robust to obfuscation, ~15x slower).
    context : include the article / parent / thread similarities (off only for ablations).
    cues : include the spam cues.
    general_idf : weight of general-language word frequencies in the IDF (0: the corpus's alone;
        `model.general_idf`).
    """

    def __init__(
        self,
        *,
        n_features: int = 2**18,
        ngram_range: tuple[int, int] = (1, 2),
        char_ngrams: bool = False,
        context: bool = True,
        cues: bool = True,
        general_idf: float = 0.0,
    ) -> None:
        self.general_idf = general_idf
        self.n_features = n_features
        self.ngram_range = ngram_range
        self.char_ngrams = char_ngrams
        self.context = context
        self.cues = cues

    # -- fitting ------------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: object = None) -> CommentContextFeatures:
        """Learn IDF weights from the comments and their articles, and the scale of the dense features."""
        frame = _check_frame(X)
        if len(frame) == 0:
            raise ValueError("CommentContextFeatures.fit needs at least one comment; got an empty frame")
        self.hasher_ = HashingVectorizer(
            n_features=self.n_features,
            ngram_range=tuple(self.ngram_range),
            token_pattern=TOKEN_PATTERN,
            alternate_sign=False,
            norm=None,
        )
        texts = normalize_texts(frame["text"])
        _, first_rows = np.unique(pd.factorize(frame["article_key"])[0], return_index=True)
        article_texts = [
            f"{t} {b}"
            for t, b in zip(
                normalize_texts(frame["title"].iloc[first_rows]),
                normalize_texts(frame["body"].iloc[first_rows]),
                strict=True,
            )
        ]
        counts = self.hasher_.transform(texts + article_texts)
        self.idf_ = _idf(counts)
        if self.general_idf > 0:
            covered, general = general_idf(self.n_features, TOKEN_PATTERN)
            self.idf_[covered] = (1.0 - self.general_idf) * self.idf_[covered] + self.general_idf * general[covered]
        if self.char_ngrams:
            self.char_hasher_ = HashingVectorizer(
                analyzer="char_wb", ngram_range=(3, 5), n_features=self.n_features,
                alternate_sign=False, norm=None,
            )
            self.char_idf_ = _idf(self.char_hasher_.transform(texts))
        # The average training comment: what every thread talks about. Subtracting it from a thread's centroid
        # leaves what is distinctive about that thread (measured on the public pairing tests, docs/quality.md).
        comment_rows, _ = self._weighted(counts[: len(texts)], self.idf_)
        self.background_ = np.asarray(comment_rows.mean(axis=0)).ravel()
        dense = self._dense(self.batch_from_frame(frame))
        self.dense_mean_ = dense.mean(axis=0)
        scale = dense.std(axis=0)
        scale[scale < 1e-9] = 1.0
        self.dense_scale_ = scale
        self.dense_names_ = self._dense_names()
        self.n_features_out_ = self.n_features * (2 if self.char_ngrams else 1) + len(self.dense_names_)
        return self

    # -- transforming -------------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> sp.csr_matrix:
        """Feature matrix for a frame with columns text, article_key, title, body (+ comment_id, parent_id)."""
        check_is_fitted(self, "idf_")
        return self.transform_batch(self.batch_from_frame(_check_frame(X)))

    def transform_batch(self, batch: ContextBatch) -> sp.csr_matrix:
        """Feature matrix for an already vectorised batch."""
        terms, dense = self.transform_parts(batch)
        return sp.hstack([terms, sp.csr_matrix(dense)], format="csr")

    def transform_parts(self, batch: ContextBatch) -> tuple[sp.csr_matrix, np.ndarray]:
        """The same features in two parts: sparse term columns, then the scaled dense columns.

        The service multiplies each part by its own block of weights instead of stacking them, which saves
        building a matrix per call.
        """
        check_is_fitted(self, "idf_")
        terms = batch.comments
        if self.char_ngrams:
            chars = self._weighted(self.char_hasher_.transform(batch.texts), self.char_idf_)[0]
            terms = sp.hstack([terms, chars], format="csr")
        return terms, self.scale_dense(self._dense(batch))

    def vectorize(self, texts: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """L2-normalised TF-IDF rows of already normalised texts, and each text's hashed term count."""
        check_is_fitted(self, "idf_")
        return self._weighted(self.hasher_.transform(texts), self.idf_)

    def batch_from_frame(self, frame: pd.DataFrame) -> ContextBatch:
        """Vectorise a frame's comments, each distinct article once, and parents found in the frame."""
        texts = normalize_texts(frame["text"])
        comments, totals = self.vectorize(texts)
        article_rows, first_rows = _factorize(frame["article_key"])
        titles, _ = self.vectorize(normalize_texts(frame["title"].iloc[first_rows]))
        bodies, _ = self.vectorize(normalize_texts(frame["body"].iloc[first_rows]))
        parent_rows, parents = self._parents(frame, comments, article_rows)
        return ContextBatch(
            texts=texts, comments=comments, term_totals=totals, article_rows=article_rows,
            titles=titles, bodies=bodies, parent_rows=parent_rows, parents=parents,
            thread_groups=article_rows,
        )

    def term_columns(self) -> tuple[int, int]:
        """(start, stop) of the output columns that hold the comment's own terms (words, and characters if on).

        Decided by the parameters alone, so a classifier can be told before anything is fitted (and a clone
        of the pipeline agrees); the spam head reads only these.
        """
        return (0, self.n_features * (2 if self.char_ngrams else 1))

    def length_columns(self) -> tuple[int, ...]:
        """The output columns that measure the comment's length, decided by the parameters alone.

        Neither head reads them. In our corpus the off-topic comments are long rants, so the topic head learned
        "long means off topic" (+1.56 logits per unit of distinct terms); on real forums the short chat is off
        topic and the long answers are not. Without them the article pairing and QatarLiving rose by 0.015-0.04
        at the same grouped-CV figures (docs/model.md).
        """
        offset = self.term_columns()[1]
        return tuple(offset + i for i, name in enumerate(self._dense_names()) if name in LENGTH_NAMES)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Hashed term buckets (`term_<i>`), character buckets (`char_<i>`), then the named dense features."""
        check_is_fitted(self, "idf_")
        names = [f"term_{i}" for i in range(self.n_features)]
        if self.char_ngrams:
            names += [f"char_{i}" for i in range(self.n_features)]
        return np.asarray(names + list(self.dense_names_), dtype=object)

    # -- internals ----------------------------------------------------------------------------------------
    def _dense_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = OWN_NAMES
        if self.context:
            names = CONTEXT_NAMES
        if self.cues:
            names = names + tuple(f"spam cue: {name}" for name in CUE_NAMES)
        return names

    def _weighted(self, counts: sp.csr_matrix, idf: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        counts = counts.tocsr()
        counts.sum_duplicates()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        return weigh_rows(counts, idf), totals

    def _parents(
        self, frame: pd.DataFrame, comments: sp.csr_matrix, article_rows: np.ndarray
    ) -> tuple[np.ndarray, sp.csr_matrix]:
        """Parents found in the frame point at their row; others fall back to a `parent_text` column."""
        n = len(frame)
        parent_rows = np.full(n, -1, dtype=np.int64)
        if "parent_id" not in frame.columns:
            return parent_rows, comments
        comment_ids = frame["comment_id"].astype(str).to_numpy() if "comment_id" in frame.columns else None
        links = link_parents(article_rows, comment_ids, frame["parent_id"].to_numpy(dtype=object))
        if not links.has_parent.any():
            return parent_rows, comments
        parent_rows = links.rows
        missing = links.unresolved  # training and the frame path: by its text if given, else top level
        if "parent_text" in frame.columns:
            # a parent known only by its text; a missing text leaves the comment top-level, not a reply to nothing
            texts = frame["parent_text"].to_numpy(dtype=object)
            missing &= np.array([isinstance(t, str) and t.strip() != "" for t in texts], dtype=bool)
        if "parent_text" in frame.columns and missing.any():
            outside = normalize_texts(frame["parent_text"].to_numpy(dtype=object)[missing])
            extra, _ = self.vectorize(outside)
            parent_rows[np.flatnonzero(missing)] = n + np.arange(int(missing.sum()))
            return parent_rows, sp.vstack([comments, extra], format="csr")
        return parent_rows, comments

    def scale_dense(self, raw: np.ndarray) -> np.ndarray:
        """Standardise dense columns with the training mean and scale, clipped at ±DENSE_CLIP."""
        # Clipped: a few cues reach 30 standard deviations, which slowed lbfgs 4x and adds nothing a linear
        # model can use beyond "far above normal".
        return np.clip((raw - self.dense_mean_) / self.dense_scale_, -DENSE_CLIP, DENSE_CLIP)

    def dense_columns(self, measures: ContextMeasures, texts: list[str]) -> np.ndarray:
        """The unscaled dense block (one column per name in `dense_names_`) from per-comment measures.

        Shared by the batch path (`_dense`, measures gathered with sparse matrices) and the small-batch path
        of the service (`model.fast.small_batch`, measures gathered from raw arrays), so the formulas exist once.
        """
        if len(texts) == 0:
            return np.zeros((0, len(self._dense_names())))
        distinct = measures.distinct
        repeated = 1.0 - distinct / np.maximum(measures.term_totals, 1.0)
        if self.context:
            columns = context_columns(measures, repeated, short_reply_terms=_SHORT_REPLY_TERMS)
        else:
            columns = [np.log1p(distinct), repeated]
        if self.cues:
            columns.append(spam_cues(texts))
        return np.column_stack(columns)

    def _dense(self, batch: ContextBatch) -> np.ndarray:
        return self.dense_columns(self._measures(batch), batch.texts)

    def _measures(self, batch: ContextBatch) -> ContextMeasures:
        comments, rows = batch.comments, batch.article_rows
        n = comments.shape[0]
        distinct = np.diff(comments.indptr).astype(np.float64)
        measures = ContextMeasures.empty(n, distinct, np.asarray(batch.term_totals, dtype=np.float64))
        if not self.context or n == 0:
            return measures
        # The article's title, body and words (a pattern: only whether a term is there counts), and the whole
        # thread when it is given and grouped like the articles: one pass over the comments for all of them.
        rights = [batch.titles, batch.bodies, batch.titles + batch.bodies]
        whole = batch.thread_sums is not None and (batch.thread_groups is batch.article_rows
                                                   or np.array_equal(batch.thread_groups, batch.article_rows))
        if whole:
            rights.append(batch.thread_sums)
        products = rowwise_dots(comments, rights, rows, shared=(2,))
        measures.sim_title, measures.sim_body, measures.shared_article = products[:3]

        measures.is_reply = (batch.parent_rows >= 0).astype(np.float64)
        measures.sim_parent, measures.shared_parent = rowwise_dots(
            comments, (batch.parents, batch.parents), batch.parent_rows, shared=(1,))
        replies = np.flatnonzero(batch.parent_rows >= 0)
        if len(replies):
            parent_vectors = batch.parents[batch.parent_rows[replies]]
            to_body, to_title = rowwise_dots(parent_vectors, (batch.bodies, batch.titles), rows[replies])
            measures.parent_sim_article[replies] = np.maximum(to_body, to_title)
        _thread_similarity(batch, self.background_, measures, products[3] if whole else None)
        return measures


def _thread_similarity(
    batch: ContextBatch, background: np.ndarray, measures: ContextMeasures, whole_dot: np.ndarray | None = None
) -> None:
    """Fill the thread measures: each comment's dot product with its whole thread's sum, that sum's squared
    norm and background product, and the thread size (`whole_dot`: the dot products, if already computed).

    The whole threads are the batch's `thread_sums` when given. Otherwise they are the batch's own comments
    plus, when given, a prior (comments outside the batch, kept by the service as a running sum): the dot
    products with the total are split into batch and prior parts, and ||total||² = ||prior||² +
    2 prior·batch + ||batch||², so the cost follows the batch, not the size of the thread.
    """
    comments, groups = batch.comments, batch.thread_groups
    n = comments.shape[0]
    measures.own_squared = squared_row_norms(comments)
    measures.own_background = np.asarray(comments @ background).ravel()
    measures.background_squared = float(background @ background)
    if batch.thread_sums is not None:
        if batch.thread_counts is None or batch.thread_prior_sums is not None:
            raise ValueError("ContextBatch: thread_sums needs thread_counts, and no thread prior")
        sums = batch.thread_sums
        measures.thread_dot = whole_dot if whole_dot is not None else rowwise_dot(comments, sums, groups)
        measures.thread_squared = squared_row_norms(sums)[groups]
        measures.thread_background = np.asarray(sums @ background).ravel()[groups]
        measures.thread_count = np.asarray(batch.thread_counts, dtype=np.float64)[groups]
        return
    n_groups = int(groups.max()) + 1 if n else 0
    batch_sums = group_sums(comments, groups, n_groups)
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    dot = rowwise_dot(comments, batch_sums, groups)
    total_sq = squared_row_norms(batch_sums)
    total_background = np.asarray(batch_sums @ background).ravel()
    prior = batch.thread_prior_sums
    if prior is not None and batch.thread_prior_counts is not None:
        counts = counts + batch.thread_prior_counts  # a remembered "!!!" has no terms but is a comment
        if prior.nnz:
            prior_sq = batch.thread_prior_squared_norms
            if prior_sq is None:
                prior_sq = squared_row_norms(prior)
            dot = dot + rowwise_dot(comments, prior, groups)
            total_sq = total_sq + prior_sq + 2.0 * rowwise_dot(batch_sums, prior, np.arange(n_groups))
            total_background = total_background + np.asarray(prior @ background).ravel()
    measures.thread_dot = dot
    measures.thread_squared = total_sq[groups]
    measures.thread_background = total_background[groups]
    measures.thread_count = counts[groups]


def _idf(counts: sp.csr_matrix) -> np.ndarray:
    """Smoothed IDF per bucket; a bucket never seen in fit gets the largest weight, as a rare word should."""
    n_docs = counts.shape[0]
    document_frequency = np.bincount(counts.tocsr().indices, minlength=counts.shape[1])
    return np.log((1.0 + n_docs) / (1.0 + document_frequency)) + 1.0


def _factorize(keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    codes = codes.astype(np.int64)
    _, first_rows = np.unique(codes, return_index=True)
    return codes, first_rows


def _check_frame(X: object) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ValueError(
            f"CommentContextFeatures expects a pandas DataFrame with columns {', '.join(REQUIRED_COLUMNS)}; "
            f"got {type(X).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"CommentContextFeatures: missing column(s) {', '.join(missing)}")
    return X


__all__ = ["DENSE_NAMES", "REQUIRED_COLUMNS", "CommentContextFeatures", "ContextBatch", "row_ids"]
