"""`moderate retrain` and `rollback`: decisions recorded through the HTTP API, a guarded swap of bundles."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import Settings
from model.bundle import ModelBundle
from moderate.cli import app
from moderate.retrain import REFUSED
from tests.conftest import TINY_ARTICLES, TINY_COMMENTS

runner = CliRunner()
FLIP = {"spam": "on_topic", "on_topic": "spam", "off_topic": "off_topic"}


def record_site(database: Path, model: Path, *, copies: int = 3,
                label_of: Callable[[int, str], str] = lambda copy, label: label) -> int:
    """A site whose articles are the tiny corpus's stories again (copy k: ids `budget-k`, ...), every comment
    classified and then decided, copy after copy; `label_of(copy, label)` is what the moderator says."""
    decided = 0
    with TestClient(create_app(Settings(model_path=model, database_path=database, reload_poll_seconds=0))) as client:
        for copy in range(copies):
            for article in TINY_ARTICLES:
                article_id = f"{article['article_id']}-{copy}"
                client.put(f"/articles/{article_id}", json={"title": article["title"], "body": article["body"]})
                rows = [c for c in TINY_COMMENTS if c[1] == article["article_id"]]
                comments = [{"id": cid, "text": text, "parent_id": parent or None} for cid, _, parent, text, _ in rows]
                classified = client.post("/classify", json={"article": {"id": article_id}, "comments": comments})
                assert classified.status_code == 200
                decisions = [{"comment_id": cid, "article_id": article_id, "label": label_of(copy, label),
                              "moderator": "ana"} for cid, _, _, _, label in rows]
                answer = client.post("/feedback", json={"decisions": decisions})
                assert answer.status_code == 200, answer.text
                decided += len(decisions)
    return decided


@pytest.fixture
def served(tmp_path: Path, tiny_bundle_dir: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "served"))


def retrain(database: Path, model: Path, out: Path, corpus: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["retrain", "--database", str(database), "--model", str(model), "--out", str(out),
                               "--data", str(corpus), *extra])


def test_a_candidate_trained_on_flipped_labels_is_refused_and_the_served_model_stays(
        tmp_path: Path, served: Path, tiny_corpus_dir: Path) -> None:
    database = tmp_path / "site.sqlite3"
    # A moderator who swapped spam and on_topic for weeks; the most recent decisions (copy 3) are right.
    record_site(database, served, copies=4, label_of=lambda copy, label: label if copy == 3 else FLIP[label])
    before = {p.name: p.read_bytes() for p in served.iterdir() if p.is_file()}
    result = retrain(database, served, tmp_path / "candidate", tiny_corpus_dir, "--promote")
    assert result.exit_code == REFUSED, result.output
    assert "not promoted" in result.output
    assert {p.name: p.read_bytes() for p in served.iterdir() if p.is_file()} == before
    assert (tmp_path / "candidate" / "retrain.md").is_file()  # the candidate and its report are written anyway
    assert not (tmp_path / "served.previous").exists()


def test_a_good_candidate_is_promoted_and_can_be_rolled_back(tmp_path: Path, served: Path,
                                                             tiny_corpus_dir: Path) -> None:
    database = tmp_path / "site.sqlite3"
    record_site(database, served, copies=4)
    old_version = ModelBundle.load(served).version
    result = retrain(database, served, tmp_path / "candidate", tiny_corpus_dir, "--promote")
    assert result.exit_code == 0, result.output
    promoted = ModelBundle.load(served)
    assert promoted.version != old_version
    assert promoted.metadata["retrained"]["site_decisions"] > 0
    assert ModelBundle.load(tmp_path / "served.previous").version == old_version
    # The services sharing the database follow the reload recorded there.
    with TestClient(create_app(Settings(model_path=served, database_path=database, reload_poll_seconds=0))) as client:
        assert client.get("/model").json()["version"] == promoted.version
    back = runner.invoke(app, ["rollback", "--model", str(served), "--database", str(database)])
    assert back.exit_code == 0, back.output
    assert ModelBundle.load(served).version == old_version


def test_too_few_decisions_are_refused_with_a_message(tmp_path: Path, served: Path, tiny_corpus_dir: Path) -> None:
    database = tmp_path / "site.sqlite3"
    record_site(database, served, copies=1)
    result = retrain(database, served, tmp_path / "candidate", tiny_corpus_dir, "--promote")
    assert result.exit_code == 1
    assert "recent decisions to judge a candidate on" in result.output


def test_a_missing_database_or_model_is_named(tmp_path: Path, served: Path, tiny_corpus_dir: Path) -> None:
    result = retrain(tmp_path / "nowhere.sqlite3", served, tmp_path / "candidate", tiny_corpus_dir)
    assert result.exit_code == 1
    assert "nowhere.sqlite3" in result.output
    result = retrain(tmp_path / "nowhere.sqlite3", tmp_path / "no-model", tmp_path / "candidate", tiny_corpus_dir)
    assert result.exit_code == 1
    assert "no-model" in result.output


def test_heads_on_the_sites_own_decisions_are_tried_once_they_hold_enough_of_each_label(
        tmp_path: Path, served: Path, tiny_corpus_dir: Path) -> None:
    few, many = tmp_path / "few.sqlite3", tmp_path / "many.sqlite3"
    record_site(few, served, copies=3)  # 24 spam and 24 off-topic decisions: fewer than 20 once two splits held
    record_site(many, served, copies=8)  # some out
    tried = {}
    for name, database in (("few", few), ("many", many)):
        assert retrain(database, served, tmp_path / name, tiny_corpus_dir).exit_code == 0
        report = json.loads((tmp_path / name / "retrain.json").read_text(encoding="utf-8"))
        written = (tmp_path / name / "retrain.md").read_text(encoding="utf-8")
        for head in ("spam", "topic"):
            assert report[f"{head}_head_learns_from"] in {"the site's decisions", "corpus and decisions"}
            assert f"the {head} head" in written
            tried[name, head] = any(f"{head} head on the site" in key for key in report["inner_validation_macro_f1"])
    assert tried == {("few", "spam"): False, ("few", "topic"): False, ("many", "spam"): True, ("many", "topic"): True}
