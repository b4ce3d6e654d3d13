"""Fixtures for the HTTP API: settings pointing every file at a temporary folder, and a client factory.

Clients are always used as context managers, so the lifespan (model load, database, batcher) really runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

#: An article and comments from the tiny corpus's world (the tiny bundle is trained on that corpus).
BUDGET = {
    "id": "budget-2025",
    "title": "Council passes city budget after long night",
    "body": "The city council voted 5-2 on Tuesday to pass a $310 million budget that raises property taxes by "
            "3 percent, adds twelve police officers and cuts library hours on Sundays.",
}
COMMENTS = [
    {"id": "c1", "text": "Raising property taxes while cutting library hours is backwards.", "parent_id": None},
    {"id": "c2", "text": "Earn 5000 dollars a week from home, message me on whatsapp now", "parent_id": None},
    {"id": "c3", "text": "Exactly, the council ignored the pension costs.", "parent_id": "c1"},
    {"id": "c4", "text": "What a header in stoppage time at the derby on Saturday!", "parent_id": None},
]


@pytest.fixture
def model_dir(tmp_path: Path, tiny_bundle_dir: Path) -> Path:
    """A private copy of the tiny bundle, so a test may replace it (hot reload) without touching others."""
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "model"))


@pytest.fixture
def make_settings(tmp_path: Path, model_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_path": model_dir,
            "database_path": tmp_path / "moderator.sqlite3",
            "reload_poll_seconds": 0,
            "api_key": None,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Callable[..., AbstractContextManager[TestClient]]:
    """`with make_client(max_comments=3) as client:` — a started app with these settings."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        with TestClient(create_app(make_settings(**overrides))) as client:
            yield client

    return make


@pytest.fixture
def client(make_client: Callable[..., AbstractContextManager[TestClient]]) -> Iterator[TestClient]:
    with make_client() as started:
        yield started
