"""GET /review and its sign-in, through HTTP (the page's behaviour in a browser is in test_review_browser.py)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager
from fnmatch import fnmatch

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware import KEY_COOKIE
from api.settings import Settings
from tests.conftest import PROJECT_ROOT

MakeClient = Callable[..., AbstractContextManager[TestClient]]
KEY = "s3cret-key"


def sign_in(client: TestClient, key: str, **kwargs: object) -> object:
    return client.post("/review/sign-in", data={"key": key}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_without_a_key_configured_the_page_is_open(make_client: MakeClient) -> None:
    with make_client() as client:
        page = client.get("/review")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'id="current"' in page.text and "Sign out" not in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        redirect = sign_in(client, "anything")
        assert redirect.status_code == 303 and redirect.headers["location"] == "/review"  # type: ignore[attr-defined]
        assert KEY_COOKIE not in redirect.headers.get("set-cookie", "")  # type: ignore[attr-defined]


def test_without_the_key_the_page_is_the_sign_in_form_and_the_api_stays_closed(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        page = client.get("/review")
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert 'name="key"' in page.text and 'id="current"' not in page.text
        for path in ("/queue", "/stats", "/review/other", "/reviewer"):
            answer = client.get(path)
            assert answer.status_code == 401 and answer.headers["content-type"] == "application/json", path
        assert client.post("/feedback", json={"decisions": []}).status_code == 401
        assert client.get("/review", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/review", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert client.get("/review", headers={"X-API-Key": "wrong"}).status_code == 401


@pytest.mark.parametrize(("key", "message"), [("wrong", "not accepted"), ("", "Enter the API key")])
def test_a_wrong_or_empty_key_is_the_form_again_with_a_message(make_client: MakeClient, key: str,
                                                                message: str) -> None:
    with make_client(api_key=KEY) as client:
        answer = sign_in(client, key)
        assert answer.status_code == 401 and message in answer.text  # type: ignore[attr-defined]
        assert "set-cookie" not in answer.headers  # type: ignore[attr-defined]


def test_the_right_key_sets_the_cookie_that_opens_the_page_and_the_api(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        answer = sign_in(client, KEY)
        assert answer.status_code == 303 and answer.headers["location"] == "/review"  # type: ignore[attr-defined]
        cookie = answer.headers["set-cookie"]  # type: ignore[attr-defined]
        assert cookie.startswith(f"{KEY_COOKIE}={KEY};")
        assert {"httponly", "path=/", "samesite=strict"} <= {part.strip().lower() for part in cookie.split(";")}
        assert "secure" not in cookie.lower()  # plain HTTP here; over HTTPS it is Secure
        assert client.get("/review").status_code == 200  # the client keeps the cookie
        assert "Sign out" in client.get("/review").text
        assert client.get("/queue").status_code == 200

        out = client.post("/review/sign-out", follow_redirects=False)
        assert out.status_code == 303 and 'max-age=0' in out.headers["set-cookie"].lower()
        assert client.get("/review").status_code == 401


def test_a_cookie_with_an_old_key_asks_to_sign_in_again(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        client.cookies.set(KEY_COOKIE, "the-key-before-it-changed")
        answer = client.get("/review")
        assert answer.status_code == 401 and "no longer accepted" in answer.text


def test_sign_in_over_https_sets_a_secure_cookie(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        answer = client.post("https://testserver/review/sign-in", data={"key": KEY}, follow_redirects=False)
        assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()


def test_a_sign_in_that_is_not_a_form_or_too_large_is_refused_in_html(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        as_json = client.post("/review/sign-in", json={"key": KEY}, follow_redirects=False)
        assert as_json.status_code == 415 and "x-www-form-urlencoded" in as_json.text
        assert as_json.headers["content-type"].startswith("text/html")
        huge = sign_in(client, "k" * 5000)
        assert huge.status_code == 413 and "4096 bytes" in huge.text  # type: ignore[attr-defined]


def test_a_right_key_a_cookie_cannot_carry_is_explained(make_client: MakeClient) -> None:
    with make_client(api_key='with "quotes"; and more') as client:
        answer = sign_in(client, 'with "quotes"; and more')
        assert answer.status_code == 422 and "openssl rand -hex 32" in answer.text  # type: ignore[attr-defined]
        assert "set-cookie" not in answer.headers  # type: ignore[attr-defined]


def test_the_message_on_the_sign_in_page_is_escaped(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        client.cookies.set(KEY_COOKIE, "<script>")
        assert "<script>" not in client.get("/review").text


def test_the_static_files_are_open_and_only_the_pages_own(make_client: MakeClient) -> None:
    with make_client(api_key=KEY) as client:
        script = client.get("/review/static/review.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert client.get("/review/static/review.css").headers["content-type"].startswith("text/css")
        for name in ("__init__.py", "review.html", "nope.js"):
            missing = client.get(f"/review/static/{name}")
            assert missing.status_code == 404 and missing.json()["detail"].startswith("no file"), name
        for path in ("/review/static/..%2Fapp.py", "/review/static/..%2F..%2Fapi%2Fapp.py", "/review/static/a/b"):
            assert client.get(path).status_code == 404, path


def test_behind_a_path_prefix_the_links_and_the_redirect_keep_it(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(api_key=KEY)), root_path="/moderator") as client:
        form = client.get("/moderator/review")
        assert form.status_code == 401 and 'action="/moderator/review/sign-in"' in form.text
        answer = client.post("/moderator/review/sign-in", data={"key": KEY}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/moderator/review"
        page = client.get("/moderator/review")
        assert page.status_code == 200 and 'data-root="/moderator"' in page.text
        assert 'src="/moderator/review/static/review.js"' in page.text
        assert client.get("/moderator/review/static/review.js").status_code == 200


def test_the_pages_files_ship_as_package_data() -> None:
    """An installed package (not only a checkout) has every file of the page."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["api.review_page"]
    files = [path.name for path in (PROJECT_ROOT / "api" / "review_page").iterdir()
             if path.is_file() and path.suffix != ".py"]
    assert {"review.html", "sign_in.html", "review.js", "review.css"} <= set(files)
    assert [name for name in files if not any(fnmatch(name, pattern) for pattern in patterns)] == []
