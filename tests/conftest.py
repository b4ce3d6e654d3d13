"""Shared fixtures: a tiny hand-written corpus, a bundle trained on it once per session, and a temp workspace.

The tiny corpus is small on purpose (a bundle trains in about a second); tests of quality use the real corpus
and are marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.bundle import ModelBundle

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

TINY_ARTICLES = [
    {"article_id": "budget", "section": "politics", "title": "Council passes city budget after long night",
     "body": "The city council voted 5-2 on Tuesday to pass a $310 million budget that raises property taxes "
             "by 3 percent, adds twelve police officers and cuts library hours on Sundays. The mayor said the "
             "tax increase was needed to cover pension costs."},
    {"article_id": "derby", "section": "sports", "title": "United beat City 2-1 in late derby drama",
     "body": "A stoppage-time header from the young defender gave United a 2-1 win over City on Saturday. "
             "City had equalised from the penalty spot after the referee reviewed a handball. The manager "
             "praised the bench and the travelling fans."},
    {"article_id": "measles", "section": "health", "title": "Measles cases rise to 40 in county outbreak",
     "body": "County health officials confirmed 40 measles cases, most among unvaccinated children, and "
             "opened free vaccination clinics at three schools. Doctors urged parents to check that children "
             "have had both doses of the MMR vaccine."},
    {"article_id": "phone", "section": "technology", "title": "New folding phone cracks in durability test",
     "body": "The company's new folding phone, priced at $1,899, cracked along its hinge after 40,000 folds "
             "in an independent durability test, far short of the 200,000 advertised. The maker said the test "
             "rig applied more pressure than normal use."},
]

# (comment_id, article_id, parent_id, text, label)
TINY_COMMENTS = [
    ("b1", "budget", "", "Raising property taxes again while cutting library hours is backwards.", "on_topic"),
    ("b2", "budget", "b1", "The pension costs have to be paid somehow, the article says so.", "on_topic"),
    ("b3", "budget", "b1", "Exactly.", "on_topic"),
    ("b4", "budget", "", "Twelve more police officers will not fix anything in this city budget.", "on_topic"),
    ("b5", "budget", "", "Did anyone watch the derby on Saturday? What a header in stoppage time.", "off_topic"),
    ("b6", "budget", "", "I make $80 per hour from home, check my profile for details!!!", "spam"),
    ("b7", "budget", "", "The 5-2 vote shows the council does not listen to taxpayers.", "on_topic"),
    ("b8", "budget", "", "My phone screen cracked again, these devices are junk.", "off_topic"),
    ("b9", "budget", "", "Earn 5000 dollars a week, message me on whatsapp now", "spam"),
    ("d1", "derby", "", "That late header was the best moment of the season for United.", "on_topic"),
    ("d2", "derby", "d1", "City were robbed by the handball review, never a penalty.", "on_topic"),
    ("d3", "derby", "", "The referee was awful all game, both sides were furious.", "on_topic"),
    ("d4", "derby", "", "Property taxes in my town went up 3 percent again, unbelievable.", "off_topic"),
    ("d5", "derby", "", "Cheap pills online, no prescription needed, visit pharmacy-deals dot com", "spam"),
    ("d6", "derby", "d3", "Agree, the bench saved United today.", "on_topic"),
    ("d7", "derby", "", "Get rich with crypto, my account manager made me $9,000 last month", "spam"),
    ("d8", "derby", "", "Has anyone had their kids vaccinated at the new clinics?", "off_topic"),
    ("m1", "measles", "", "Forty cases is scary, parents need to get both MMR doses done.", "on_topic"),
    ("m2", "measles", "m1", "The free vaccination clinics at schools are a good idea.", "on_topic"),
    ("m3", "measles", "", "Unvaccinated children are the ones at risk here, doctors are right.", "on_topic"),
    ("m4", "measles", "", "The council budget vote was a disgrace, 5-2 for higher taxes.", "off_topic"),
    ("m5", "measles", "", "Hot singles in your area want to meet you tonight, click here", "spam"),
    ("m6", "measles", "m3", "Source for that?", "on_topic"),
    ("m7", "measles", "", "Work from home and earn $600 a day, text me at 5 5 5 0 1 2 3 4", "spam"),
    ("m8", "measles", "", "United should sell their striker after that derby performance.", "off_topic"),
    ("p1", "phone", "", "Forty thousand folds is nowhere near the advertised two hundred thousand.", "on_topic"),
    ("p2", "phone", "p1", "And they charge $1,899 for a phone that cracks at the hinge.", "on_topic"),
    ("p3", "phone", "", "The test rig excuse from the maker is weak, every phone gets pressed hard.", "on_topic"),
    ("p4", "phone", "", "The measles outbreak at the schools worries me more than any gadget.", "off_topic"),
    ("p5", "phone", "", "Buy followers and likes cheap, 10k followers for $5, DM me", "spam"),
    ("p6", "phone", "p3", "lol yes", "on_topic"),
    ("p7", "phone", "", "I earned $7,500 this month working online, see my page", "spam"),
    ("p8", "phone", "", "Library hours on Sundays should never have been cut.", "off_topic"),
]


def write_corpus(folder: Path, articles: list[dict[str, str]] | None = None,
                 comments: list[tuple[str, str, str, str, str]] | None = None) -> Path:
    """Write articles.jsonl and comments.jsonl into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = TINY_ARTICLES if articles is None else articles
    comments = TINY_COMMENTS if comments is None else comments
    with (folder / "articles.jsonl").open("w", encoding="utf-8") as handle:
        for article in articles:
            handle.write(json.dumps(article) + "\n")
    with (folder / "comments.jsonl").open("w", encoding="utf-8") as handle:
        for cid, aid, parent, text, label in comments:
            row = {"comment_id": cid, "article_id": aid, "parent_id": parent or None, "text": text, "label": label}
            handle.write(json.dumps(row) + "\n")
    return folder


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("tiny-corpus"))


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory, tiny_corpus_dir: Path) -> Path:
    """A bundle trained on the tiny corpus through the public training API, saved once per session."""
    from training.config import TrainingConfig
    from training.data import load_labeled
    from training.train import train

    # No general-language IDF: it shrinks the everyday words the tiny corpus's spam is made of ("earn", "from
    # home") below what 33 comments can learn back; the real corpus measures it (docs/model.md).
    result = train(load_labeled(tiny_corpus_dir), TrainingConfig(folds=2, general_idf=0.0))
    return result.bundle.save(tmp_path_factory.mktemp("tiny-bundle"))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bundle_dir: Path) -> ModelBundle:
    return ModelBundle.load(tiny_bundle_dir)


@pytest.fixture
def shared_data() -> Path:
    """The public data sets beside the project; tests that need them skip with a clear message without them."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data sets not found at {SHARED_DATA} (clone the project beside ../shared)")
    return SHARED_DATA
