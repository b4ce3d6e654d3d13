"""Quality on our own corpus, trained through the real training path (slow: about a minute, run in CI too).

- grouped-by-article cross-validation beats the comment-only baseline by at least 0.05 macro-F1 and by at
  least 0.15 F1 on off-topic, and stays above macro-F1 0.87. The rewritten corpus of issue 11 (noisy readers,
  plain and short spam) is harder than the first one: the model scores 0.885 on it where it scored 0.922 on
  the first corpus, short of the issue's 0.90, which stays open there; 0.87 guards against regressions;
- the same comment text is on_topic under the article it discusses and off_topic under an unrelated one. The
  ten pairs below were written for this test and are not in the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.bundle import ModelBundle
from model.types import Article, Comment
from training.config import TrainingConfig
from training.data import load_labeled
from training.train import TrainingResult, train

CORPUS = Path(__file__).resolve().parents[2] / "data" / "labeled"

# slow: one training on the full corpus (~40 s alone on 2 cores) shared by both tests
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# (article it discusses, unrelated article, the comment)
PAIRS: list[tuple[Article, Article, str]] = [
    (
        Article("wolves", "Wolves return to the valley after 80 years",
                "Biologists confirmed a breeding pair of grey wolves in the upper valley, the first in 80 years. "
                "Ranchers worry about calves; the wildlife agency promised compensation for confirmed losses."),
        Article("tariff", "Steel tariff raised to 25 percent",
                "The trade ministry raised the tariff on imported steel to 25 percent, citing dumping by foreign "
                "mills. Carmakers warned that prices of new vehicles would rise."),
        "Ranchers will get compensation for calves but proving a wolf did it is nearly impossible.",
    ),
    (
        Article("bench", "Hawks collapse in fourth quarter as bench goes cold",
                "The Hawks led by 14 after three quarters but their bench shot 2 of 19 in the fourth and they lost "
                "108-101. The coach said the starters played too many minutes in the first half."),
        Article("iraq", "Iraq's parliament fails again to elect a speaker",
                "Iraq's parliament adjourned without electing a speaker for the third time, as rival blocs "
                "disputed the quorum. The UN envoy urged leaders to end the deadlock."),
        "The bench was awful tonight, 2 of 19 in the fourth quarter is unforgivable.",
    ),
    (
        Article("insulin", "State caps insulin at $35 a month",
                "Lawmakers passed a bill capping what insured patients pay for insulin at $35 a month. Insurers "
                "said premiums could rise; patient groups called it a lifeline for diabetics."),
        Article("marathon", "Record field of 30,000 runners for city marathon",
                "A record 30,000 runners will start Sunday's city marathon. Organisers added water stations "
                "after last year's heat and moved the start to 7 a.m."),
        "My daughter is diabetic and we paid $300 a month for insulin, this cap changes everything for us.",
    ),
    (
        Article("bridge", "Old river bridge closed after inspectors find cracked beams",
                "The county closed the 1950s river bridge after inspectors found cracked steel beams. Commuters "
                "face a 20-minute detour; repairs could take a year and cost $14 million."),
        Article("album", "Singer's comeback album tops the charts",
                "The singer's first album in nine years went straight to number one, selling 210,000 copies in "
                "its first week. Critics praised the stripped-down production."),
        "Twenty extra minutes each way for a year because nobody inspected those beams properly.",
    ),
    (
        Article("vaccine", "Clinics offer free flu shots as hospital admissions climb",
                "Flu admissions doubled in two weeks, and county clinics now offer free flu vaccinations on "
                "weekends. Doctors urged older adults and pregnant women to get the shot."),
        Article("zoning", "Council rezones mall site for 900 apartments",
                "The council voted to rezone the empty mall site for 900 apartments and a park. Neighbours "
                "objected to traffic; the developer promised 20 percent affordable units."),
        "Got my flu shot at the weekend clinic, took ten minutes and it was free.",
    ),
    (
        Article("breach", "Retailer admits hackers stole 4 million card numbers",
                "The retailer said hackers stole 4 million payment card numbers through its checkout software "
                "over six weeks. Customers were told to watch their statements; banks are reissuing cards."),
        Article("drought", "Farmers plead for help as drought cuts wheat harvest",
                "Wheat yields fell by a third after the driest spring on record. Farmers asked for emergency "
                "loans; the agriculture minister promised a relief package next month."),
        "Six weeks before anyone noticed the checkout was leaking card numbers? My bank just reissued mine.",
    ),
    (
        Article("rates", "Central bank holds interest rates at 4.5 percent",
                "The central bank kept its key rate at 4.5 percent, saying inflation was easing but wages were "
                "still rising fast. Markets had expected a cut; mortgage rates are unlikely to fall soon."),
        Article("museum", "Museum returns bronze statues to Nigeria",
                "The museum returned 12 bronze statues taken from Benin City in 1897. Nigerian officials attended "
                "the ceremony and said the works would go on display in a new museum."),
        "No cut again, so my mortgage stays where it is. Inflation is easing, what are they waiting for?",
    ),
    (
        Article("strike", "Teachers strike over class sizes enters second week",
                "Teachers remained on strike for a second week, demanding a cap of 25 pupils per class. The "
                "district offered a 4 percent raise but refused the cap; parents scrambled for childcare."),
        Article("rocket", "Private rocket reaches orbit on third attempt",
                "A private company put its small rocket into orbit on the third try, deploying two satellites. "
                "The first two launches failed when the second stage shut down early."),
        "Thirty-two kids in my son's class. The teachers are right, the raise is not the point.",
    ),
    (
        Article("wildfire", "Wildfire forces evacuation of 3,000 homes",
                "A fast-moving wildfire forced the evacuation of 3,000 homes as gusts reached 60 km/h. Firefighters "
                "said containment was 10 percent; shelters opened at two high schools."),
        Article("chess", "Teenager wins national chess championship",
                "A 15-year-old won the national chess championship with a round to spare, beating two grandmasters. "
                "She will represent the country at the olympiad next year."),
        "We evacuated last night with the dog and the photos. Praying the firefighters get it contained.",
    ),
    (
        Article("transit", "Bus fares rise 50 cents as transit agency faces deficit",
                "The transit agency will raise bus fares by 50 cents in January to close a $40 million deficit. "
                "Riders' groups said low-income workers would be hit hardest; service cuts were ruled out."),
        Article("whales", "Whale sightings surge off the coast",
                "Whale-watching boats reported a surge in humpback sightings, which scientists link to warmer "
                "water pushing anchovies closer to shore. Tour operators added trips."),
        "Another 50 cents a ride adds up to $20 a month for people who take the bus to work every day.",
    ),
]


@pytest.fixture(scope="module")
def corpus_training() -> TrainingResult:
    return train(load_labeled(CORPUS), TrainingConfig())


def test_grouped_cross_validation_beats_targets_and_baseline(corpus_training: TrainingResult) -> None:
    metrics = corpus_training.metrics
    assert "grouped by article" in metrics["protocol"]
    assert metrics["model"]["macro_f1"] >= 0.87
    assert metrics["model"]["macro_f1"] >= metrics["baseline"]["macro_f1"] + 0.05
    assert metrics["off_topic_f1_gain_over_baseline"] >= 0.15
    assert metrics["calibration"]["ece_after"] <= 0.05  # grouped out-of-fold, cross-fitted temperatures
    assert metrics["actions"]["precision"]["reject"] >= 0.97  # chosen for 0.98 on the same held-out scores
    assert metrics["seconds"]["total"] > 0  # wall-clock time is reported, not asserted (see docs/benchmarks.md)


def test_same_comment_is_on_topic_only_under_its_own_article(corpus_training: TrainingResult, tmp_path: Path) -> None:
    bundle = ModelBundle.load(corpus_training.bundle.save(tmp_path / "bundle"))
    right = 0
    failures = []
    for own, other, text in PAIRS:
        under_own = bundle.classify(own, [Comment("c", text)])[0]
        under_other = bundle.classify(other, [Comment("c", text)])[0]
        if under_own.label == "on_topic" and under_other.label == "off_topic":
            right += 1
        else:
            failures.append((own.id, under_own.label, other.id, under_other.label))
    # 9 of 10 before the general-language IDF (docs/model.md), 8 with it: the price of its transfer gain (Globe
    # and Mail pairing 0.697 -> 0.773 on real comments), whose hand-made pairs are far fewer than the real ones.
    assert right >= 8, failures
