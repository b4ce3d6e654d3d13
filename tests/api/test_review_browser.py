"""The reviewer page in a real browser: Debian's chromium, headless, driven by Playwright, against `moderate serve`.

The module starts one server with the tiny bundle, a fresh database and an API key; each test stores two articles
anew and classifies comments under them (the tiny bundle sends them all to review), signs in and works through
the queue with the keyboard or the mouse; what the page did is checked through the HTTP API (GET /queue,
GET /stats) and in the stored decisions (`read_site_decisions`, what retraining reads).

Without /usr/bin/chromium the tests skip (`make browser` installs it); with MODERATE_REQUIRE_BROWSER=1 (CI) they
fail instead. No browser is ever downloaded. Screenshots go to var/screenshots/ (printed; gitignored).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.decisions import read_site_decisions
from tests.api.conftest import BUDGET
from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
KEY = "review-page-test-key"
DERBY = {"id": "derby-0412", "title": "United beat City 2-1 in late derby drama",
         "body": "A stoppage-time header from the young defender gave United a 2-1 win over City on Saturday. "
                 "City had equalised from the penalty spot after the referee reviewed a handball."}
BUDGET_COMMENTS = [
    {"id": "b1", "text": "Raising property taxes while cutting library hours is backwards."},
    {"id": "b2", "text": "Earn 5000 dollars a week from home, message me on whatsapp now"},
    {"id": "b3", "text": "Exactly, the council ignored the pension costs.", "parent_id": "b1"},
    {"id": "b4", "text": "Nice weather today <img src=x onerror=\"document.title='owned'\">"},
    {"id": "b5", "text": "My kids love the library, and now it is closed on the one day we can go.",
     "parent_id": "b1"},
]
DERBY_COMMENTS = [
    {"id": "d1", "text": "What a header in stoppage time! Best derby in years."},
    {"id": "d2", "text": "Visit my page for cheap match tickets"},
    {"id": "d3", "text": "Anyone watching the game tonight?", "parent_id": "d1"},
]


def _require_browser() -> Any:
    """Playwright's sync API, or a skip (a failure under MODERATE_REQUIRE_BROWSER=1) saying how to get chromium."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found: `make browser` installs Debian's chromium package"
    try:
        from playwright import sync_api
    except ImportError:
        problem = "playwright is not installed: pip install -e '.[dev]'"
    if problem is None:
        return sync_api
    if os.environ.get("MODERATE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{problem} (MODERATE_REQUIRE_BROWSER=1 asks for the browser tests to run)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _require_browser()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no localStorage) and page; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


class Site:
    """A running server with comments waiting for review, and its HTTP API for checking what the page did."""

    def __init__(self, base: str, database: Path) -> None:
        self.base = base
        self.database = database
        self.http = httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=10.0)

    def classify(self, article: dict[str, str], comments: list[dict[str, Any]]) -> None:
        """Store the article (decisions name it, so that retraining can use them), then classify under it."""
        stored = self.http.put(f"/articles/{article['id']}", json={"title": article["title"], "body": article["body"]})
        assert stored.status_code == 201, stored.text
        answer = self.http.post("/classify", json={"article": {"id": article["id"]}, "comments": comments})
        assert answer.status_code == 200, answer.text

    def queue(self, article_id: str | None = None) -> dict[str, Any]:
        params = {"limit": 100} | ({"article_id": article_id} if article_id else {})
        answer = self.http.get("/queue", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def queued_ids(self, article_id: str | None = None) -> list[str]:
        return [item["comment_id"] for item in self.queue(article_id)["items"]]

    def stats(self) -> dict[str, Any]:
        answer = self.http.get("/stats")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def decided(self) -> dict[str, tuple[str, str]]:
        """comment id -> (label, moderator) of each comment's latest decision."""
        comments = read_site_decisions(self.database).comments
        return {row.comment_id: (row.label, row.moderator) for row in comments.itertuples()}

    def wait_for_queue(self, count: int) -> None:
        """Comments are stored behind /classify's answer: wait until `count` of them wait for review."""
        deadline = time.monotonic() + 10
        while (pending := self.queue()["pending"]) < count:
            assert time.monotonic() < deadline, f"only {pending} of {count} comments reached the queue"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Iterator[tuple[str, Path]]:
    """One server for the module (starting one takes seconds); each test starts from fresh articles (`site`)."""
    database = tmp_path_factory.mktemp("review-browser") / "moderator.sqlite3"
    with running_server(tiny_bundle_dir, database, env={"MODERATE_API_KEY": KEY}) as (base, _):
        yield base, database


@pytest.fixture
def site(server: tuple[str, Path]) -> Iterator[Site]:
    """Both articles deleted (which forgets their comments, classifications and decisions) and classified anew."""
    site = Site(*server)
    for article, comments in ((BUDGET, BUDGET_COMMENTS), (DERBY, DERBY_COMMENTS)):
        assert site.http.delete(f"/articles/{article['id']}").status_code in (204, 404)
        site.classify(article, comments)
    # The tiny bundle is unsure of everything it was not trained on: all of these go to review.
    site.wait_for_queue(len(BUDGET_COMMENTS) + len(DERBY_COMMENTS))
    assert site.stats()["decisions"] == 0
    yield site
    site.http.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def sign_in(page: Any, site: Site, moderator: str | None = "Ana") -> None:
    page.goto(site.base + "/review")
    page.fill("#key", KEY)
    page.click("button[type=submit]")
    page.wait_for_selector(".card, .empty")
    if moderator is not None:
        page.fill("#moderator", moderator)
        page.keyboard.press("Escape")  # leaves the field, so that the keys are shortcuts again


def current_id(page: Any) -> str:
    return page.locator(".card").get_attribute("data-comment-id")  # type: ignore[no-any-return]


def next_card_after(page: Any, comment_id: str) -> str:
    """Wait until the page shows another comment (or the empty queue); its id ("" when empty)."""
    page.wait_for_function(
        "id => { const card = document.querySelector('.card');"
        " return card ? card.dataset.commentId !== id : !!document.querySelector('.empty'); }", arg=comment_id)
    return current_id(page) if page.locator(".card").count() else ""


def wait_for_figure(page: Any, element: str, text: str) -> None:
    page.wait_for_function("([id, text]) => document.getElementById(id).textContent === text", arg=[element, text])


def test_sign_in_refuses_a_wrong_key_and_lets_the_right_one_in(page: Any, site: Site) -> None:
    answer = page.goto(site.base + "/review")
    assert answer.status == 401
    assert page.locator("form input[name=key]").count() == 1
    assert page.locator(".card").count() == 0
    shot(page, "sign-in")

    page.fill("#key", "not-the-key")
    page.click("button[type=submit]")
    assert "not accepted" in page.locator("[role=alert]").inner_text()
    assert page.context.cookies() == []

    page.fill("#key", KEY)
    page.click("button[type=submit]")
    page.wait_for_selector(".card")
    assert page.url == site.base + "/review"
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("moderator_key", True, "Strict")
    assert page.evaluate("document.cookie") == ""  # the key is out of the page's scripts' reach
    assert page.locator("#pending").inner_text() == f"{len(BUDGET_COMMENTS) + len(DERBY_COMMENTS)} waiting for review"

    page.click("text=Sign out")
    page.wait_for_selector("form input[name=key]")
    assert page.context.cookies() == []


def test_keyboard_decisions_reach_feedback_and_the_queue_moves_on(page: Any, site: Site) -> None:
    queued = site.queued_ids()
    sign_in(page, site, moderator=None)
    first = current_id(page)
    assert first == queued[0]  # the most uncertain comment first, as the queue orders them

    page.keyboard.press("s")  # no name yet: the page asks for it and sends nothing
    assert "Enter your name" in page.locator("#status").inner_text()
    assert page.evaluate("document.activeElement.id") == "moderator"
    assert site.stats()["decisions"] == 0
    page.keyboard.type("Ana")
    page.keyboard.press("Enter")
    shot(page, "review")

    page.keyboard.press("s")
    second = next_card_after(page, first)
    assert second == queued[1]
    page.keyboard.press("j")  # skip one, decide the one after it
    page.wait_for_function("id => document.querySelector('.card').dataset.commentId === id", arg=queued[2])
    page.keyboard.press("k")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("o")
    next_card_after(page, queued[2])
    page.keyboard.press("a")
    next_card_after(page, queued[3])
    wait_for_figure(page, "stat-decisions", "3")
    shot(page, "after-keyboard-decisions")

    assert site.decided() == {first: ("spam", "Ana"), queued[2]: ("off_topic", "Ana"), queued[3]: ("on_topic", "Ana")}
    assert site.stats()["decisions"] == 3
    left = site.queued_ids()
    assert first not in left and queued[2] not in left and queued[3] not in left and second in left
    waiting = len(BUDGET_COMMENTS) + len(DERBY_COMMENTS) - 3
    assert page.locator("#pending").inner_text() == f"{waiting} waiting for review"

    page.reload()  # the name is remembered; the decided comments do not come back
    page.wait_for_selector(".card")
    assert page.input_value("#moderator") == "Ana"
    assert current_id(page) == second
    assert page.locator(".upcoming-item").count() == min(6, waiting - 1)


def test_the_comment_is_shown_in_context_with_its_terms_marked_and_never_as_html(page: Any, site: Site) -> None:
    items = {item["comment_id"]: item for item in site.queue()["items"]}
    sign_in(page, site)
    seen = set()
    while (comment_id := current_id(page)) not in seen:  # walk the whole queue with j
        seen.add(comment_id)
        item = items[comment_id]
        card = page.locator(".card")
        assert card.locator(".article-title").inner_text() == item["article_title"]
        assert card.locator(".comment-text").inner_text() == item["text"]
        assert card.locator(".chip").first.inner_text().replace(" ", "_").lower() == item["label"]
        assert card.locator(".reasons li").count() == max(1, len(item["reasons"]))
        assert card.locator(".score").count() == len(item["scores"])
        # A mark holds a term's words, with whatever the model's tokens skip between them ("dollars a week").
        marks = {" ".join(re.findall(r"\w\w+", text.lower()))
                 for text in card.locator(".comment-text mark").all_inner_texts()}
        assert marks <= {term.lower() for term in item["terms"]}
        if item["parent_id"]:
            assert card.locator(".parent-text").inner_text() == item["parent_text"]
        else:
            assert card.locator(".parent").count() == 0
        page.keyboard.press("j")
    assert seen == set(items)
    assert page.locator(".card img").count() == 0
    assert page.title() != "owned"
    spam = next(cid for cid, item in items.items() if item["label"] == "spam" and item["terms"])
    while current_id(page) != spam:
        page.keyboard.press("k")
    shot(page, "marked-terms")
    assert page.locator(".card .comment-text mark").count() >= 1


def test_mouse_decisions_and_undo_with_the_latest_decision_counting(page: Any, site: Site) -> None:
    queued = site.queued_ids()
    sign_in(page, site, moderator="Ben")
    page.click("button.approve")
    next_card_after(page, queued[0])
    page.locator(".upcoming-item").nth(1).click()  # jump two ahead
    page.wait_for_function("id => document.querySelector('.card').dataset.commentId === id", arg=queued[3])
    page.click("button.off-topic")
    next_card_after(page, queued[3])
    wait_for_figure(page, "stat-decisions", "2")
    assert site.decided() == {queued[0]: ("on_topic", "Ben"), queued[3]: ("off_topic", "Ben")}

    page.click("button.undo")
    page.wait_for_function("id => document.querySelector('.card').dataset.commentId === id", arg=queued[3])
    assert "Rejected as off topic" in page.locator(".card .notice-info").inner_text()
    shot(page, "undo")
    page.click("button.spam")
    next_card_after(page, queued[3])
    page.wait_for_function("() => document.getElementById('stat-decisions').textContent === '2'")
    assert site.decided() == {queued[0]: ("on_topic", "Ben"), queued[3]: ("spam", "Ben")}
    assert site.stats()["decisions"] == 2  # each comment's latest decision counts once
    assert queued[3] not in site.queued_ids()


def test_the_filter_by_article_and_the_empty_queue(page: Any, site: Site) -> None:
    sign_in(page, site)
    options = page.locator("#article-select option").all_inner_texts()
    assert options[0] == "All articles" and any(DERBY["title"] in text for text in options)

    page.select_option("#article-select", DERBY["id"])
    page.wait_for_function("id => document.querySelector('.card')?.dataset.articleId === id", arg=DERBY["id"])
    assert page.url.endswith(f"?article_id={DERBY['id']}")
    assert page.locator("#pending").inner_text() == f"{len(DERBY_COMMENTS)} waiting for review under this article"
    shot(page, "filtered")
    for _ in DERBY_COMMENTS:
        assert page.locator(".card").get_attribute("data-article-id") == DERBY["id"]
        comment_id = current_id(page)
        page.keyboard.press("a")
        next_card_after(page, comment_id)
    assert "queue is empty" in page.locator(".empty").inner_text()
    assert DERBY["id"] in page.locator(".empty").inner_text()
    shot(page, "empty")
    assert site.queued_ids(DERBY["id"]) == []
    assert len(site.queued_ids(BUDGET["id"])) == len(BUDGET_COMMENTS)

    page.fill("#article-input", BUDGET["id"])  # typed, for an article not in the list
    page.keyboard.press("Enter")
    page.wait_for_function("id => document.querySelector('.card')?.dataset.articleId === id", arg=BUDGET["id"])
    page.fill("#article-input", "no-such-article")
    page.keyboard.press("Enter")
    page.wait_for_selector(".empty")
    page.fill("#article-input", "derby\u200b0412")  # a zero-width space: the service refuses the id (422)
    page.keyboard.press("Enter")
    page.locator("#error").wait_for()
    assert "Could not load the queue (422)" in page.locator("#error").inner_text()
    assert "could not be loaded" in page.locator(".empty").inner_text()
    page.select_option("#article-select", "")
    page.wait_for_selector(".card")
    assert page.locator("#error").is_hidden()
    assert page.locator("#pending").inner_text() == f"{len(BUDGET_COMMENTS)} waiting for review"


def test_failed_requests_are_shown_and_the_comment_stays(page: Any, site: Site) -> None:
    sign_in(page, site)
    first = current_id(page)

    def unavailable(route: Any) -> None:
        route.fulfill(status=503, content_type="application/json",
                      body='{"detail": "the database cannot be written", "field": null}')

    page.route("**/feedback", unavailable)  # a 5xx as the server would send it
    page.keyboard.press("s")
    alert = page.locator("#error")
    alert.wait_for()
    assert "(503)" in alert.inner_text() and "the database cannot be written" in alert.inner_text()
    assert current_id(page) == first
    shot(page, "error-503")
    page.unroute("**/feedback")

    page.context.clear_cookies()  # signed out elsewhere: the real server refuses the next decision
    page.keyboard.press("s")
    page.wait_for_function("() => document.getElementById('error').innerText.includes('(401)')")
    assert page.locator("#error a").inner_text() == "Sign in again"
    assert current_id(page) == first
    assert site.stats()["decisions"] == 0
