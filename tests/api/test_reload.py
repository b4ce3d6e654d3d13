"""Hot reload: a new bundle is swapped in while requests keep coming, and none of them fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from fastapi.testclient import TestClient

from model.bundle import MODEL_FILE, ModelBundle
from tests.api.conftest import BUDGET, COMMENTS

MakeClient = Callable[..., AbstractContextManager[TestClient]]


def save_new_version(bundle: ModelBundle, folder: Path, version: str) -> None:
    """Write the same pipeline as a bundle with another version into `folder`, as retraining there would."""
    ModelBundle(pipeline=bundle.pipeline, labels=bundle.labels, thresholds=bundle.thresholds,
                metadata={**bundle.metadata, "version": version}).save(folder)


def test_reload_under_concurrent_requests_fails_no_request(
    make_client: MakeClient, model_dir: Path, tiny_bundle: ModelBundle
) -> None:
    old = tiny_bundle.version
    answers: list[tuple[float, int, str]] = []  # (start time, status, model version)
    stop = threading.Event()

    def keep_sending(client: TestClient, worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            comments = [{"id": f"w{worker}-{n}-{i}", "text": c["text"], "parent_id": None}
                        for i, c in enumerate(COMMENTS[: 1 + n % 4])]
            started = time.monotonic()
            response = client.post("/classify", json={"article": BUDGET, "comments": comments})
            version = response.json().get("model_version", "") if response.status_code == 200 else response.text
            answers.append((started, response.status_code, version))

    with make_client() as client:
        senders = [threading.Thread(target=keep_sending, args=(client, w)) for w in range(6)]
        for sender in senders:
            sender.start()
        time.sleep(0.5)
        save_new_version(tiny_bundle, model_dir, "tiny-v2")
        reloaded = client.post("/admin/reload")
        reloaded_at = time.monotonic()
        time.sleep(0.5)
        stop.set()
        for sender in senders:
            sender.join()
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json() == {"status": "reloaded", "previous_version": old, "model_version": "tiny-v2"}
        assert client.get("/model").json()["version"] == "tiny-v2"
        metrics = client.get("/metrics").text
    assert [a for a in answers if a[1] != 200] == []
    assert {version for _, _, version in answers} == {old, "tiny-v2"}
    assert all(version == "tiny-v2" for started, _, version in answers if started > reloaded_at)
    assert len(answers) > 50
    assert 'moderate_model_reloads_total{outcome="loaded"} 1.0' in metrics


def test_a_broken_new_bundle_is_refused_and_the_old_one_keeps_serving(
    client: TestClient, model_dir: Path, tiny_bundle: ModelBundle
) -> None:
    with (model_dir / MODEL_FILE).open("ab") as handle:
        handle.write(b"corrupt")
    refused = client.post("/admin/reload")
    assert refused.status_code == 409
    assert f"still serving {tiny_bundle.version}" in refused.json()["detail"]
    assert "does not match" in refused.json()["detail"]
    answer = client.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:1]})
    assert (answer.status_code, answer.json()["model_version"]) == (200, tiny_bundle.version)


def test_train_then_reload_makes_a_modelless_service_ready(
    make_client: MakeClient, tmp_path: Path, tiny_bundle: ModelBundle
) -> None:
    folder = tmp_path / "later"
    with make_client(model_path=folder) as client:
        assert client.get("/ready").status_code == 503
        save_new_version(tiny_bundle, folder, "trained-later")
        assert client.post("/admin/reload").json()["previous_version"] is None
        assert client.get("/ready").json()["model_version"] == "trained-later"


def test_other_workers_follow_a_reload(make_client: MakeClient, model_dir: Path, tiny_bundle: ModelBundle) -> None:
    # Two apps on one database stand for two worker processes; only the first gets the admin request.
    with make_client() as first, make_client(reload_poll_seconds=0.05) as second:
        save_new_version(tiny_bundle, model_dir, "tiny-v3")
        assert first.post("/admin/reload").status_code == 200
        deadline = time.monotonic() + 10
        while second.get("/model").json()["version"] != "tiny-v3":
            assert time.monotonic() < deadline, "the second worker did not follow the reload"
            time.sleep(0.05)
        answer = second.post("/classify", json={"article": BUDGET, "comments": COMMENTS[:1]})
        assert answer.json()["model_version"] == "tiny-v3"
