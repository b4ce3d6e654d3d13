"""Articles stored with their address, found by any spelling of it; databases from before addresses still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from api.article_urls import url_key
from tests.api.conftest import BUDGET
from tests.api.integrations.conftest import SPAM_TEXT, Client, coral_post


@pytest.mark.parametrize(("one", "other"), [
    ("https://news.example/a/b/", "HTTPS://News.Example:443/a/b"),
    ("https://news.example/a?utm_source=x&utm_medium=y", "https://news.example/a#comments"),
    ("https://news.example/?p=12&lang=en", "https://news.example?lang=en&p=12&fbclid=abc"),
    ("https://news.example/a?commentID=5fd0", "https://news.example/a"),
])
def test_spellings_of_one_address_share_a_key(one: str, other: str) -> None:
    assert url_key(one) == url_key(other) is not None


@pytest.mark.parametrize(("one", "other"), [
    ("https://news.example/a", "https://news.example/b"),
    ("https://news.example/?p=12", "https://news.example/?p=13"),
    ("http://news.example:8080/a", "http://news.example/a"),
])
def test_different_articles_keep_different_keys(one: str, other: str) -> None:
    assert url_key(one) != url_key(other)


@pytest.mark.parametrize("url", ["", "news.example/a", "ftp://news.example/a", "https://", "https://x:port/",
                                 "javascript:alert(1)", "https://[::1/"])
def test_what_is_not_an_http_address_has_no_key(url: str) -> None:
    assert url_key(url) is None


@pytest.mark.parametrize("url", ["not a url", "ftp://x/y", "https://", 3, "https://x/" + "a" * 2048])
def test_put_refuses_an_address_it_could_never_find_by(platform: Client, url: object) -> None:
    with platform() as client:
        answer = client.put("/articles/other", json={"title": "T", "url": url})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "url"


def test_a_database_from_before_addresses_gets_them_and_keeps_its_articles(platform: Client, tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, "
               "updated_at REAL NOT NULL)")
    db.execute("INSERT INTO articles VALUES ('old', 'An old story', 'Its body', 0)")
    db.commit()
    db.close()
    with platform(database_path=database) as client:
        assert "url" not in client.get("/articles/old").json()
        assert client.put("/articles/old", json={"title": "An old story", "url": "https://news.example/old"}
                          ).json()["url"] == "https://news.example/old"
        answer = coral_post(client, SPAM_TEXT, story_id="coral-uuid", story_url="https://news.example/old/")
        assert answer.json()["status"] == "REJECTED"
        assert client.get("/articles/old").json()["known_comments"] == 1
        assert client.get(f"/articles/{BUDGET['id']}").json()["url"]  # stored by the fixture, with its address
