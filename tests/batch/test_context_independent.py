"""A comment's context in a dump is the whole input's: the same scores however the job is cut, and the service's.

Its thread is every other comment of its article in the dump and its parent is wherever the dump holds it, so
chunk size, workers, the order of the rows and the engine cannot change a label, and sending an article's whole
thread to POST /classify in one call gives the same scores as the batch job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import Settings
from batch.scorer import ChunkScorer, CommentBatch
from batch.threads import ArticleThreads, ThreadSumsBuilder, article_sums
from model.bundle import ModelBundle
from model.sparse_ops import group_sums
from model.text import normalize_texts
from model.types import Article
from moderate.cli import app
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS

runner = CliRunner()
SCORES = ["score_on_topic", "score_off_topic", "score_spam"]
#: Scores are written to 6 decimals; sums added in another order may move the last one.
TOLERANCE = 2e-6


def dump(copies: int, seed: int) -> pd.DataFrame:
    """Copies of the tiny corpus (own ids, parents within the copy), rows shuffled: every article is spread
    through the file and some replies come before their parent."""
    rows = [
        {"comment_id": f"{cid}~{copy}", "article_id": aid, "parent_id": f"{parent}~{copy}" if parent else "",
         "text": text}
        for copy in range(copies) for cid, aid, parent, text, _ in TINY_COMMENTS
    ]
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def articles_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("articles") / "articles.csv"
    pd.DataFrame(TINY_ARTICLES).to_csv(path, index=False)
    return path


def scored(source: Path, out: Path, articles_csv: Path, bundle_dir: Path, *options: str) -> pd.DataFrame:
    result = runner.invoke(app, ["score", str(source), "--articles", str(articles_csv), "-o", str(out),
                                 "--model", str(bundle_dir), "--quiet", *options])
    assert result.exit_code == 0, result.output
    return pq.read_table(out).to_pandas()


def assert_same_scores(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same labels, actions and (to float rounding) scores, comment by comment."""
    got, want = got.set_index("comment_id").sort_index(), want.set_index("comment_id").sort_index()
    assert list(got.index) == list(want.index)
    assert got["label"].tolist() == want["label"].tolist()
    assert got["action"].tolist() == want["action"].tolist()
    assert np.allclose(got[SCORES].to_numpy(float), want[SCORES].to_numpy(float), atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, articles_csv: Path, tiny_bundle_dir: Path
              ) -> tuple[Path, pd.DataFrame]:
    """The dump, and its scores in one chunk by one process."""
    folder = tmp_path_factory.mktemp("dump")
    source = folder / "comments.csv"
    dump(copies=3, seed=1).to_csv(source, index=False)
    return source, scored(source, folder / "reference.parquet", articles_csv, tiny_bundle_dir,
                          "--chunk-rows", "20000", "--workers", "1")


@pytest.mark.parametrize("options", [
    ("--chunk-rows", "1", "--workers", "1"),
    ("--chunk-rows", "7", "--workers", "1"),
    ("--chunk-rows", "7", "--workers", "2"),
    ("--chunk-rows", "20000", "--workers", "2"),
], ids=["chunks of 1", "chunks of 7", "chunks of 7, 2 workers", "one chunk, 2 workers"])
def test_chunk_size_and_workers_do_not_change_the_scores(
    options: tuple[str, ...], reference: tuple[Path, pd.DataFrame], articles_csv: Path, tiny_bundle_dir: Path,
    tmp_path: Path,
) -> None:
    source, want = reference
    got = scored(source, tmp_path / "out.parquet", articles_csv, tiny_bundle_dir, *options)
    assert got["comment_id"].tolist() == want["comment_id"].tolist()  # rows stay in input order
    assert got["error"].isna().all()
    assert_same_scores(got, want)


def test_the_order_of_the_rows_does_not_change_the_scores(
    reference: tuple[Path, pd.DataFrame], articles_csv: Path, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    source, want = reference
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(source, dtype=str, keep_default_na=False).sample(frac=1.0, random_state=7).to_csv(
        shuffled, index=False)
    for chunk_rows in ("5", "20000"):
        got = scored(shuffled, tmp_path / f"out-{chunk_rows}.parquet", articles_csv, tiny_bundle_dir,
                     "--chunk-rows", chunk_rows, "--workers", "1")
        assert_same_scores(got, want)


def test_the_dask_engine_gives_the_same_scores(
    reference: tuple[Path, pd.DataFrame], articles_csv: Path, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    source, want = reference
    folder = tmp_path / "parts"
    folder.mkdir()
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 4)):  # 4 files: 4 partitions
        frame.iloc[part].to_csv(folder / f"part-{i}.csv", index=False)
    out = tmp_path / "dask-out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = runner.invoke(app, ["score", str(folder / "part-*.csv"), "--engine", "dask", "--scheduler",
                                     cluster.scheduler_address, "--articles", str(articles_csv), "-o", str(out),
                                     "--model", str(tiny_bundle_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    got = pq.read_table(out).to_pandas()
    assert got["comment_id"].tolist() == frame["comment_id"].tolist()
    assert_same_scores(got, want)


def test_post_classify_with_the_whole_thread_gives_the_batch_scores(
    reference: tuple[Path, pd.DataFrame], tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    source, want = reference
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    settings = Settings(model_path=tiny_bundle_dir, database_path=tmp_path / "service.sqlite3",
                        reload_poll_seconds=0, api_key=None)
    answers = []
    with TestClient(create_app(settings)) as client:
        for article in TINY_ARTICLES:
            thread = frame[frame["article_id"] == article["article_id"]]
            body = {
                "article": {"id": article["article_id"], "title": article["title"], "body": article["body"]},
                "comments": [{"id": row.comment_id, "text": row.text, "parent_id": row.parent_id or None}
                             for row in thread.itertuples()],
            }
            response = client.post("/classify", json=body)
            assert response.status_code == 200, response.text
            answers += [{"comment_id": r["id"], "label": r["label"], "action": r["action"],
                         **{f"score_{k}": v for k, v in r["scores"].items()}}
                        for r in response.json()["results"]]
    assert_same_scores(pd.DataFrame(answers), want)


# -- the pieces -------------------------------------------------------------------------------------------
def test_thread_sums_add_up_to_the_sums_of_the_whole_input(tiny_bundle: ModelBundle) -> None:
    frame = dump(copies=2, seed=3)
    scorer = ChunkScorer(tiny_bundle)
    articles = {a["article_id"]: Article(a["article_id"], a["title"], a["body"]) for a in TINY_ARTICLES}

    def batch(rows: pd.DataFrame) -> CommentBatch:
        return CommentBatch(texts=pa.array(rows["text"].tolist()), article_ids=pa.array(rows["article_id"].tolist()),
                            articles=articles)

    whole = scorer.thread_part(batch(frame))
    builder = ThreadSumsBuilder(scorer.width)
    for start in range(0, len(frame), 5):
        builder.add(scorer.thread_part(batch(frame.iloc[start:start + 5])))
    added = builder.result().select(whole.article_ids)
    assert np.array_equal(added.counts, whole.counts)
    assert abs(added.sums - whole.sums).max() < 1e-12
    # One sparse product sums exactly what the core's group_sums does.
    comments, _ = tiny_bundle.pipeline.named_steps["features"].vectorize(normalize_texts(frame["text"]))
    groups = np.arange(len(frame)) % 3
    assert (article_sums(comments, groups, 3) != group_sums(comments, groups, 3)).nnz == 0
    # An article the threads do not hold has an empty thread.
    assert ArticleThreads.empty(scorer.width).select(whole.article_ids[:1]).sums.nnz == 0
    empty = whole.select(["nowhere"])
    assert empty.sums.shape == (1, scorer.width) and empty.sums.nnz == 0 and empty.counts.tolist() == [0.0]


def test_terms_kept_between_the_passes_give_the_scores_of_terms_hashed_again(
    tiny_bundle: ModelBundle, tmp_path: Path
) -> None:
    frame = dump(copies=2, seed=5)
    frame.loc[3, "text"] = " \u200b "  # an empty comment: not scored, not kept
    articles = {a["article_id"]: Article(a["article_id"], a["title"], a["body"]) for a in TINY_ARTICLES}

    def batch(**extra: object) -> CommentBatch:
        return CommentBatch(texts=pa.array(frame["text"].tolist()), article_ids=pa.array(frame["article_id"].tolist()),
                            articles=articles, comment_ids=pa.array(frame["comment_id"].tolist()),
                            parent_ids=pa.array(frame["parent_id"].tolist()), **extra)  # type: ignore[arg-type]

    scorer = ChunkScorer(tiny_bundle)
    kept = tmp_path / "terms.npz"
    threads = scorer.thread_part(batch(save_terms=kept))
    again = scorer.score(batch(threads=threads))
    from_file = scorer.score(batch(threads=threads, saved_terms=kept))
    assert not kept.exists()  # read once, then removed
    assert from_file.table.equals(again.table)
    assert from_file.table.equals(scorer.score(batch()).table)  # the batch is the whole input
    assert from_file.table.column("error").to_pylist()[3] == "empty text"


def test_a_terms_file_cut_short_is_an_error_naming_the_array(tmp_path: Path) -> None:
    from batch.terms_file import load_terms, save_terms

    texts = pa.array(["hello there", "", "third comment"], type=pa.large_string())
    counts = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 0, 0], [0, 70000.0, 1]]))  # a count too large for uint16
    path = tmp_path / "terms.bin"
    save_terms(path, texts, counts)
    read_texts, read_counts = load_terms(path)
    assert read_texts.to_pylist() == texts.to_pylist() and (read_counts != counts).nnz == 0
    save_terms(path, texts, counts)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="cut short in counts"):
        load_terms(path)
    path.write_bytes(b"something else")
    with pytest.raises(ValueError, match="not a terms file"):
        load_terms(path)
