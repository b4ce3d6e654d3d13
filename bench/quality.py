"""Quality on real, human-labeled data: every protocol for our model and the naive baseline; writes docs/quality.md.

The public sets live beside the project in ../shared/data (never copied into the repository); the adapters in
`training/datasets/` read them, the protocols in `training/quality/` fit and score. Each figure has the
baseline (TF-IDF of the comment text + logistic regression) beside it, fitted on the same splits, and the
published figure where there is one.

    .venv/bin/python bench/quality.py             # the full run (make quality): writes docs/quality.md
    .venv/bin/python bench/quality.py --quick --out /tmp/quality.md --json /tmp/quality.json   # subsets, seconds

`--quick` runs every protocol on a subset (the CI variant, tests/training/test_quality.py); its figures are not
comparable with the published ones and are never written to docs/quality.md unless --out says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the project's packages come from its root
    sys.path.insert(0, str(ROOT))

from model.bundle import ModelBundle  # noqa: E402
from model.errors import BundleError, ModerationError  # noqa: E402
from training import quality  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import LabeledData, load_labeled  # noqa: E402
from training.datasets import ADAPTERS, default_data_root  # noqa: E402
from training.quality.reliability_plot import write_reliability_plot  # noqa: E402

PROTOCOLS = ("transfer", "surface", "omp", "youtube", "qatar", "globe", "fox")
COMMAND = ".venv/bin/python bench/quality.py"
RELIABILITY_PNG = "img/transfer_reliability.png"  # beside the report
SET_NAMES = {"omp": "One Million Posts", "youtube": "YouTube Spam", "qatar": "SemEval-2015 QatarLiving",
             "fox": "Fox News", "globe": "Globe and Mail"}


def run(protocols: tuple[str, ...], *, data_root: Path, model_path: Path, corpus_path: Path, jobs: int,
        quick: bool, say: Any) -> tuple[list[quality.ProtocolResult], list[str]]:
    """Run the chosen protocols; returns their results and notes on what was skipped."""
    results: list[quality.ProtocolResult] = []
    notes: list[str] = []
    cache: dict[str, LabeledData] = {}

    def data(name: str) -> LabeledData:
        if name not in cache:
            cache[name] = ADAPTERS[name](data_root)
        return cache[name]

    for key in protocols:
        started = time.perf_counter()
        say(f"{key}: running")
        if key == "omp":
            omp = data("omp")
            if quick:
                omp = quality.sample_articles(omp, comments=800)
            results.append(quality.omp_offtopic(omp, jobs=jobs, progress=say, folds=[1, 2] if quick else None))
        elif key == "youtube":
            videos = quality.sample_articles(data("youtube"), articles=3, per_article=150) if quick else data("youtube")
            results.append(quality.youtube_spam(videos, jobs=jobs, progress=say, folds=3 if quick else 10))
        elif key == "qatar":
            questions = quality.sample_articles(data("qatar"), articles=300) if quick else data("qatar")
            results.append(quality.qatar_relevance(questions, jobs=jobs, progress=say,
                                                   config=TrainingConfig() if quick else None, both_ways=not quick))
        elif key in ("globe", "fox"):
            pairs = quality.sample_articles(data(key), articles=10, per_article=40) if quick else data(key)
            results.append(quality.pairing(pairs, dataset=key, jobs=jobs, progress=say, folds=2 if quick else 5,
                                           c_grid=(1.0,) if quick else quality.PAIRING_C))
        elif key == "transfer":
            try:
                bundle = ModelBundle.load(model_path)
            except BundleError as error:
                notes.append(f"Transfer skipped: {error}")
                say(f"transfer skipped: {error}")
                continue
            sets = {name: data(name) for name in ("omp", "youtube", "qatar", "fox", "globe")}
            if quick:
                sets = {name: quality.sample_articles(d, articles=20, per_article=30) for name, d in sets.items()}
            results.append(quality.transfer(bundle, load_labeled(corpus_path), sets, progress=say))
        elif key == "surface":
            sets = {"our corpus": load_labeled(corpus_path), **{SET_NAMES[name]: data(name) for name in ADAPTERS}}
            results.append(quality.surface_statistics(sets, languages={SET_NAMES["omp"]: "de"}))
        say(f"{key}: {time.perf_counter() - started:.0f} s")
    if quick:  # subsets: the targets are for the full sets, so no figure is judged against them
        for result in results:
            for figure in result.figures:
                figure.target = None
                figure.published = ""
    return results, notes


# -- the report ------------------------------------------------------------------------------------------------
def render(results: list[quality.ProtocolResult], notes: list[str], *, command: str, seconds: float,
           quick: bool, reliability_png: str | None = None) -> str:
    variant = ", QUICK variant on subsets (not comparable with published figures)" if quick else ""
    lines = [
        "# Quality on real, human-labeled data",
        "",
        "Our model beside the naive baseline (TF-IDF of the comment text + logistic regression, fitted on the same",
        "splits) and beside published figures, on public data sets labeled by people outside this project",
        "(`../shared/data/*/README.md`). The data stay outside the repository; `training/datasets/` adapts them,",
        "`training/quality/` holds the protocols.",
        "",
        f"Reproduce: `make quality` (or `{command}`).",
        f"This run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, {seconds:.0f} s on "
        f"{os.cpu_count()} cores{variant}.",
        f"Model configuration (training/config.py): `{TrainingConfig().pipeline_params()}`; "
        "the protocols switch on character n-grams (`char_ngrams=True`) unless a section says otherwise.",
        "",
    ]
    lines += _headline(results)
    lines += _learning_curve(LEARNING_CURVE)
    if reliability_png:
        lines += ["Reliability on the real sets (top-label, the bins of the calibration errors above):", "",
                  f"![reliability of the default model on real sets]({reliability_png})", ""]
    lines += [
        "## Summary",
        "",
        "| Data set | Protocol | Metric | Ours | Baseline | Published | Target |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for f in result.figures:
            target = "" if f.target is None else f"{f.target:.3f} {'met' if f.met else '**missed**'}"
            baseline = "" if f.baseline is None else f"{f.baseline:.4f}"
            lines.append(f"| {f.dataset} | {f.protocol} | {f.metric} | {f.ours:.4f} | {baseline} | {f.published} "
                         f"| {target} |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    lines += ["", NOTES_ON_TARGETS, "", COMPARABILITY, ""]
    for result in results:
        lines += [f"## {result.title}", "", result.setup, "", f"Time: {result.seconds:.0f} s.", ""]
        lines += _surface(result.details) if result.key == "surface" else _details(result.details)
        if result.errors:
            lines += ["", f"Sample of errors (random, reproducible; score = {result.score_meaning}):", ""]
            for kind, rows in result.errors.items():
                lines.append(f"*{kind}*")
                lines.append("")
                if not rows:
                    lines.append("- none")
                for row in rows:
                    article = f" — under *{_md(row['article'])}*" if row["article"] else ""
                    lines.append(f"- `{row['score']:.3f}` ({row['true']}) {_md(row['text'])}{article}")
                lines.append("")
        lines.append("")
    lines += [EXPLORATION, ""]
    return "\n".join(lines).rstrip() + "\n"


def _headline(results: list[quality.ProtocolResult]) -> list[str]:
    """The table the report leads with: the default model on real comments, no retraining, beside the naive peer."""
    details = next((r.details for r in results if r.key == "transfer"), {})
    rows = details.get("headline")
    if not rows:
        return []
    lines = ["## Headline: the default model on real comments, without retraining", "",
             "`make run`'s model, trained only on `data/labeled/`, scored on every public set; beside it the naive "
             "comment-only peer (TF-IDF + LR) trained on the same corpus. Model choices are judged by this table "
             "together with grouped cross-validation on the corpus.", "",
             "| Data set | Task | Measure | Ours | Naive peer |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['set']} | {row['task']} | {row['measure']} | {_cell(row['ours'])} | "
                     f"{_cell(row['naive'])} |")
    return [*lines, "", TRANSFER_NOTES.format(spam_share=details["corpus spam share"]), ""]


LEARNING_CURVE = Path(__file__).resolve().parent.parent / "docs" / "learning_curve.json"


def _learning_curve(path: Path) -> list[str]:
    """The retrained model's figures from the latest `bench/learning_curve.py` run (its own command: it retrains
    30 times), so that this report shows what a site gets after its moderators' first decisions too."""
    if not path.exists():
        return ["## After the site's own decisions", "", f"`bench/learning_curve.py` has not been run ({path.name} "
                "is missing).", ""]
    run = json.loads(path.read_text(encoding="utf-8"))
    lines = ["## After the site's own decisions", "",
             f"`moderate retrain`'s fit on the first N decisions of each set, in the set's order, measured on the "
             f"comments after the first 1,000 (`bench/learning_curve.py`, run {run['run']}; curves and choices in "
             "[learning_curve.md](learning_curve.md)). ROC AUC is of the same scores; \"everything\" is the F1 of "
             "calling every later comment positive.", "",
             "| Data set | Measure | N=0 | 200 | 1,000 | naive peer at 200 / 1,000 | ROC AUC at 200 | everything | "
             "target at 200 |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for key, curve in run["sets"].items():
        at = {int(r["decisions"]): r for r in curve["rows"]}
        target = run["targets"].get(key)
        verdict = "" if target is None else f"{target} {'met' if at[200]['ours'] >= target else '**missed**'}"
        lines.append(f"| {curve['name']} | {curve['measure']} | {at[0]['ours']:.3f} | {at[200]['ours']:.3f} | "
                     f"{at[1000]['ours']:.3f} | "
                     f"{_cell(at[200]['naive'])} / {_cell(at[1000]['naive'])} | {at[200]['auc']:.3f} | "
                     f"{at[0]['floor']:.3f} | {verdict} |")
    return [*lines, ""]


def _surface(details: dict[str, Any]) -> list[str]:
    rows, separation = details["rows"], details["separation"]
    columns = [c for c in rows[0] if c not in ("set", "label")]
    lines = ["| set | label | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    lines += [f"| {r['set']} | {r['label']} | " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
    traits = [c for c in separation[0] if c != "set"] if separation else []
    if traits:
        lines += ["", "How sharply each trait separates spam from the other comments (share among spam / share "
                  "among the rest; 1 = not at all):", "",
                  "| set | " + " | ".join(traits) + " |", "|---" * (len(traits) + 1) + "|"]
        lines += [f"| {r['set']} | " + " | ".join(_cell(r.get(t)) for t in traits) + " |" for r in separation]
    return lines


def _details(details: dict[str, Any]) -> list[str]:
    metric_rows = {k: v for k, v in details.items() if isinstance(v, dict) and "f1" in v}
    lines: list[str] = []
    if metric_rows:
        keys = [k for k in ("precision", "recall", "f1", "accuracy", "auc", "average_precision", "flagged",
                            "positives") if any(k in v for v in metric_rows.values())]
        lines += ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, values in metric_rows.items():
            lines.append(f"| {name} | " + " | ".join(_cell(values.get(k, "")) for k in keys) + " |")
        lines.append("")
    for name, value in details.items():
        if name not in metric_rows and name != "headline":  # the headline is its own table
            lines.append(f"- {name}: `{json.dumps(value, default=str)}`")
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("*", "\\*").replace("_", "\\_")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


COMPARABILITY = """\
How the figures compare:
- One Million Posts: the same 3,599 posts, the same official folds and the same pooled precision/recall/F1 of the
  off-topic class as Schabus et al. They used the post alone. Our figure also uses the score of the parent post, which
  a service knows when a reply arrives (see the section). The baseline column is TF-IDF + LR with its threshold chosen
  the same way as ours; at its default threshold (argmax) the baseline flags 15 posts (F1 0.027).
- YouTube: the published figure (about 0.95, TubeSpam paper) comes from the authors' own splits. Ours is stratified
  10-fold with seed 0, on 1,953 comments (the 3 duplicated ids counted once). Leave one video out has no published
  counterpart.
- QatarLiving: the task scores three classes (Good / Potential / Bad) with macro-F1, and the best system was trained
  on the 2,600-question training file, which is not available here. Our binary mapping (Good vs Bad + Dialogue,
  Potential left out) has no published counterpart. Its figures show that reading the question helps: compare with
  the baseline.
- Article pairing and transfer are our constructions. A model that reads only the comment scores 0.5 by construction
  (computed, not assumed)."""

TRANSFER_NOTES = """\
Calibration on a real set depends on its share of each label: a model calibrated on our corpus ({spam_share:.0%}
spam) says "0.3 spam" about a comment that is spam 30% of the time *at our corpus's prior*; on YouTube, where about
half of the comments are spam, the same comment is spam far more often, so ECE there measures the prior shift as
much as the model. F1 at the model's decision is the figure that suffers most from that shift."""

NOTES_ON_TARGETS = """\
Targets (issue 5): One Million Posts off-topic F1 above 0.3128, aiming at 0.35; YouTube spam F1 0.965 (10-fold) and
0.94 (leave one video out); article pairing AUC 0.90 (Globe and Mail) and 0.80 (Fox News). Where a target is missed,
the section "What was tried" at the end says what was measured and what would close the gap; every protocol shows a
sample of its false positives and false negatives."""

# Measured while building the protocols (2026-11-21, the model configuration of that day); the command does not
# regenerate this section, it keeps the record of what was tried and why the protocols look the way they do.
EXPLORATION = """\
## What was tried (not regenerated by the command)

Measured while building these protocols on the same splits; figures are pooled over the folds. "Oracle F1" is the
best F1 over all thresholds on the pooled test scores (an upper bound, not a result).

### One Million Posts (target 0.35: reached only within noise, 0.342-0.349 over C in {1, 2, 4, 8})
| variant (10 official folds) | AUC | AP | oracle F1 |
|---|---|---|---|
| baseline (word TF-IDF + LR) | 0.635 | 0.279 | 0.334 |
| char 2-5 TF-IDF + LR (sklearn) | 0.652 | 0.290 | 0.343 |
| ours, default configuration (context features, word n-grams), C=3 | 0.596 | 0.221 | 0.310 |
| ours + char n-grams, context features on | 0.642 | 0.273 | 0.327 |
| ours + char n-grams, context + parent text for every reply | 0.620 | 0.253 | 0.320 |
| ours + char n-grams, context features off | 0.658 | 0.298 | 0.346 |
| same + parent's TF-IDF terms as a separate block | 0.646 | 0.278 | 0.343 |
| same + parent's score, same model, w = 0.5 (the protocol) | 0.695 | 0.314 | 0.362 |
| same + all ancestors' scores, recursive | 0.689 | 0.318 | 0.370 |

- The article/thread similarity features lower F1 here. The official folds are built around threads: fold 2 holds
  2 articles, fold 5 holds 273, and the share of posts with a known title runs from 0.3% to 54% by fold. Features such
  as thread size, "has other comments in the thread" and title similarity take fold-specific values, and the
  classifier learns fold artefacts from them. The issue's note holds: cosine to the parent or the title barely
  separates the classes.
- What helps is the thread read differently. A reply to an off-topic post is off-topic 62% of the time, against 6.5%
  for a reply to an on-topic post. So the protocol adds the parent's own score (from the same model, which never saw the
  parent's label). Using parent scores from a model that had seen the child's label inflated the gain (a leak we
  measured and removed). Parents in another official fold are not used.
- What costs the most: choosing the threshold on inner folds loses 0.02-0.03 F1 against the oracle, because the folds
  differ so much. Fitting the test-fold model on the whole training side and applying an inner-fold threshold gave
  0.322. Scoring the test fold with the mean of the inner-fold models (the same scale as the one the threshold was
  chosen on) gave 0.347. Nine inner folds instead of three gave 0.341.
- Not used, because a live service would not have them or they are moderators' decisions: `Status` (deleted by a
  moderator), votes, the other categories' labels, and replies posted after the post.

### Article pairing (Globe and Mail 0.90, Fox News 0.80)
- The training pairs are built the way the test pairs are built: each training comment at home and moved, both in a
  thread and alone. Lower C helps, because the comment's own words cannot tell its two placements apart (AUC over
  C = 16, 4, 1, 0.25, 0.1: Globe 0.897, 0.900, 0.904, 0.900, 0.890; Fox 0.772, 0.777, 0.783, 0.781, 0.777). C is
  now chosen on inner folds of the training articles. Character n-grams do not help here (0.893 / 0.768).
- With the article alone (no thread), AUC is 0.77 (Globe, title only) and 0.68 (Fox, title plus one sentence). Most
  of the separation comes from the thread.
- **Feature now in model/ (the "Thread-distinctiveness feature" commit; first measured here in a subclass):**
  similarity to the thread's *distinctive* terms: cos(c, mean of the other comments - background). `background_` is
  the mean comment vector of the training data, fitted in `fit`. The raw thread centroid is dominated by words that
  every thread uses. On the training pairs this feature alone scores Fox 0.851 and Globe 0.936. Added to the current
  features, this protocol (inner-fold C) went from Globe 0.9075 to 0.932 and Fox 0.780 to 0.810 in the subclass; in
  model/ (with the dense features clipped at +-5) the full run gives Globe 0.933 and Fox 0.817: both targets met.
  The same change moved One Million Posts from 0.347 to 0.340 (still above the published 0.3128). It is neutral
  elsewhere (every change within 0.002): QatarLiving F1 0.767 -> 0.766 (dev -> test) and 0.699 -> 0.701 (test ->
  dev); YouTube spam F1 0.967 -> 0.966 (10-fold) and 0.951 -> 0.949 (leave one video out). It needs only what the
  service already keeps per thread (sum S including c, count), so the serving path stays O(1) per comment:

  ```python
  # in CommentContextFeatures: fit() sets self.background_ = mean of the l2-normalised training comment rows;
  # _dense() appends one column, "similarity to the thread's distinctive terms":
  S, cnt = thread sums and counts (group_sums + thread_prior_sums / thread_prior_counts), g = batch.thread_groups
  cS = rowwise_dot(C, S, g); cc = squared_row_norms(C); SS = squared_row_norms(S)[g]
  Smu = (S @ mu)[g]; cmu = C @ mu; k = cnt[g] - 1
  dot = (cS - cc) / k - cmu                                   # c . (others / k - mu)
  norm2 = (SS - 2 * cS + cc) / k**2 - 2 * (Smu - cmu) / k + mu @ mu   # |others / k - mu|^2
  sim = dot / sqrt(norm2) where k > 0 and norm2 > 1e-12, else 0
  ```

### YouTube and transfer
- YouTube needs the comment scored inside its whole thread. Scoring a test fold alone shrinks every thread to a tenth,
  and spam F1 falls to 0.21 in 10-fold. Character n-grams move 10-fold F1 from 0.955 to 0.968, and leave one video out
  from 0.934 to 0.950.
- Transfer (issue 5's model, first corpus): the default model, scored inside the real threads, ranked YouTube spam
  below chance (AUC 0.48); alone, 0.72. Issue 11 found the larger cause: one classifier over every feature let the
  article and thread decide spam. The spam head now reads the comment's terms only (docs/model.md), and the
  headline table at the top of this file is the current figure.
- Transfer, third corpus round: half of YouTube's spam was still approved (precision 0.99, recall 0.56), nearly all
  of it self-promotion ("check out my channel", "like this so ... sees it", bare profile links), a family our corpus
  hardly had. 498 hand-written spam comments of the families real sites get most (self-promotion, link drops and
  deals, generic blog praise) and 258 legitimate ones with their surface moved YouTube AUC 0.894 -> 0.916 and F1
  0.713 -> 0.805, with the topic head's C 4 -> 2 (docs/model.md) the Globe and Mail pairing 0.773 -> 0.853. Then
  221 short reactions ("so sad 😢", emoji-only posts) that real readers post and our corpus lacked: YouTube AUC about
  +0.01, Globe and Mail pairing about -0.01 (the headline's 0.913 and 0.831 are one seed; four seeds span
  0.913-0.928 and 0.833-0.845, docs/model.md).
- Transfer, fourth corpus round: the spam still approved was self-promotion in a fan's or a beginner's voice
  ("sub to me pls", apologetic plugs, apps that "pay you for posting") and the legitimate comments called spam were
  short generic praise of a song or a video. Comments under video and culture pages, the spam families on news
  and tutorial pages, blogs' generic praise spam and readers' answers (520 after a review, data/labeled/README.md) moved
  YouTube AUC 0.913 -> 0.932 (seeds 1 and 2: 0.926 -> 0.933, 0.924 -> 0.934) and F1 0.809 -> 0.823 (docs/model.md).
- Speed: the standardized dense features reach 30 standard deviations (spam cues, thread size), which makes
  logistic regression converge 4x slower (liblinear: 2.7 s without the dense block, 12 s with it, 7 s with it divided
  by 10). The protocols therefore fit with liblinear (same loss; the intercept is penalised). Clipping the
  standardized features to about +-5 in `CommentContextFeatures` would speed up training everywhere (now done:
  `moderate train` went from 25 s to 14 s)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=default_data_root(),
                        help="folder holding the public sets (default: ../shared/data beside the project)")
    parser.add_argument("--model", type=Path, default=ROOT / "model/artifacts/default",
                        help="bundle for the transfer protocol")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data/labeled", help="our labeled corpus")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown report (default: docs/quality.md; with --quick, none unless given)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure and metric as JSON")
    parser.add_argument("--only", default=",".join(PROTOCOLS),
                        help=f"comma-separated protocols to run (default: all of {', '.join(PROTOCOLS)})")
    parser.add_argument("--jobs", type=int, default=2, help="parallel fits (default 2)")
    parser.add_argument("--quick", action="store_true", help="subsets of every protocol, a few seconds each")
    args = parser.parse_args(argv)
    chosen = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PROTOCOLS]
    if unknown:
        print(f"error: unknown protocol(s) {', '.join(unknown)}; choose from {', '.join(PROTOCOLS)}", file=sys.stderr)
        return 1
    if not args.data_root.is_dir():
        print(f"error: public data sets not found at {args.data_root} (clone the project beside ../shared, or pass "
              "--data-root)", file=sys.stderr)
        return 1
    out = args.out if args.out is not None or args.quick else ROOT / "docs/quality.md"
    started = time.perf_counter()
    try:
        results, notes = run(chosen, data_root=args.data_root, model_path=args.model, corpus_path=args.corpus,
                             jobs=args.jobs, quick=args.quick,
                             say=lambda message: print(f"· {message}", file=sys.stderr, flush=True))
    except (ModerationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    command = COMMAND + (" --quick" if args.quick else "")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        transfer = next((r for r in results if r.key == "transfer"), None)
        plotted = transfer is not None and write_reliability_plot(transfer.details, out.parent / RELIABILITY_PNG)
        out.write_text(render(results, notes, command=command, seconds=seconds, quick=args.quick,
                              reliability_png=RELIABILITY_PNG if plotted else None), encoding="utf-8")
        print(f"report written to {out}", file=sys.stderr)
    if args.json is not None:
        payload = {"command": command, "seconds": round(seconds, 1), "quick": args.quick, "notes": notes,
                   "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    for result in results:
        for f in result.figures:
            mark = "" if f.target is None else (" (target met)" if f.met else f" (target {f.target} missed)")
            baseline = "" if f.baseline is None else f", baseline {f.baseline:.4f}"
            print(f"{f.dataset} | {f.protocol} | {f.metric}: {f.ours:.4f}{baseline}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
