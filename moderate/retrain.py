"""`moderate retrain` and `moderate rollback`: a model trained on the site's decisions, promoted only if not worse.

The swap of bundles is two renames beside the served folder: the candidate is written whole into
`<model>.incoming`, the served bundle moves to `<model>.previous` (the one rollback restores), the candidate
takes its place. A service that reloads between the two renames finds no bundle, keeps serving the one it has
and says so in its log; services learn of the new bundle from the reload recorded in the database afterwards
(they follow it within MODERATE_RELOAD_POLL_SECONDS), so none of them stops answering.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from moderate.console import DEFAULT_DATA, DEFAULT_MODEL, console, fail

#: Exit code when --promote was asked and the guard refused the candidate (it is still written to --out).
REFUSED = 3

DatabaseOption = Annotated[Path, typer.Option("--database", help="The service's database (MODERATE_DATABASE_PATH).")]


def retrain(
    database: DatabaseOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for the candidate bundle and its report.")],
    model: Annotated[Path, typer.Option("--model", help="The served bundle folder.")] = DEFAULT_MODEL,
    data: Annotated[Path, typer.Option("--data", help="Our labeled corpus.")] = DEFAULT_DATA,
    promote: Annotated[bool, typer.Option("--promote", help="Replace --model with the candidate if not worse.")]
    = False,
) -> None:
    """Train a candidate on the corpus plus the moderators' decisions, judge it against the served model on the
    most recent decisions, and with --promote replace the served model only if the candidate is not worse.

    Example: moderate retrain --database var/moderator.sqlite3 --model model/artifacts/default --out var/candidate
    --promote. Exit 0: candidate written (and promoted, with --promote); 3: --promote refused by the guard.
    """
    from api.decisions import read_site_decisions
    from model.bundle import ModelBundle
    from model.errors import ModerationError
    from training.data import load_labeled
    from training.retrain import NotEnoughDecisions, site_labeled
    from training.retrain import retrain as run_retrain

    try:
        current = ModelBundle.load(model)
        site_data = read_site_decisions(database)
        corpus = load_labeled(data)
        site = site_labeled(site_data.articles, site_data.comments, str(database))
        console.print(f"· {len(site.comments)} decisions under {len(site.articles)} articles "
                      f"({site_data.without_article} left out: their article is unknown)")
        result = run_retrain(corpus, site, current)
    except (ModerationError, NotEnoughDecisions, FileNotFoundError, ValueError) as error:
        raise fail(str(error)) from None
    report = {**result.report(), "served_model": current.version,
              "left_out_without_article": site_data.without_article}
    folder = result.candidate.save(out)
    (folder / "retrain.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "retrain.md").write_text(_markdown(report), encoding="utf-8")
    console.print(f"candidate {result.candidate.version} written to {folder} (corpus share {result.corpus_share})")
    console.print(result.reason)
    if not promote:
        return
    if not result.promote:
        console.print(f"[red]not promoted[/red]: the served model at {model} stays")
        raise typer.Exit(code=REFUSED)
    previous = _swap_in(folder, model)
    generation = _record_reload(database, result.candidate.version)
    console.print(f"promoted to {model}; the previous bundle is in {previous} (moderate rollback --model {model}); "
                  f"reload generation {generation} recorded, services on {database} follow it")


def rollback(
    model: Annotated[Path, typer.Option("--model", help="The served bundle folder.")] = DEFAULT_MODEL,
    database: Annotated[Path | None, typer.Option("--database", help="Record a reload for the services.")] = None,
) -> None:
    """Put back the bundle that the last promotion replaced (the two swap places: rollback twice undoes it)."""
    from model.bundle import ModelBundle
    from model.errors import BundleError

    previous = _previous(model)
    try:
        restored = ModelBundle.load(previous)
    except BundleError as error:
        raise fail(f"nothing to roll back to: {error}") from None
    _swap_in(previous, model, keep=True)
    console.print(f"{model} is bundle {restored.version} again")
    if database is not None:
        console.print(f"reload generation {_record_reload(database, restored.version)} recorded")


def _previous(model: Path) -> Path:
    return model.with_name(model.name + ".previous")


def _swap_in(source: Path, model: Path, *, keep: bool = False) -> Path:
    """Make `source` the bundle at `model`, the served one becoming `<model>.previous`; `source` is copied
    (or, with `keep`, moved: rollback swaps the two)."""
    incoming = model.with_name(model.name + ".incoming")
    previous = _previous(model)
    shutil.rmtree(incoming, ignore_errors=True)
    if keep:
        source.rename(incoming)
    else:
        shutil.copytree(source, incoming)
    if model.exists():
        shutil.rmtree(previous, ignore_errors=True)
        model.rename(previous)
    incoming.rename(model)
    return previous


def _record_reload(database: Path, version: str) -> int:
    from api.store import ArticleStore

    store = ArticleStore(database)
    try:
        return store.record_reload(version)
    finally:
        store.close()


def _markdown(report: dict[str, object]) -> str:
    candidate, current = report["candidate"], report["current"]
    assert isinstance(candidate, dict) and isinstance(current, dict)
    lines = ["# Retraining on the site's decisions", "",
             f"Decision: **{'promote' if report['promote'] else 'keep the served model'}** ({report['reason']}).", "",
             "| on the most recent decisions (held out) | candidate | served model |", "|---|---|---|",
             f"| macro-F1 | {candidate['macro_f1']} | {current['macro_f1']} |",
             f"| on-topic comments rejected | {candidate['wrong_rejects']} | {current['wrong_rejects']} |"]
    for label, value in candidate["per_label_f1"].items():
        lines.append(f"| {label} F1 | {value} | {current['per_label_f1'].get(label)} |")
    lines += ["", f"Share of our corpus kept: {report['corpus_share']}; the spam head learns from "
              f"{report['spam_head_learns_from']}, the topic head from {report['topic_head_learns_from']} "
              f"(inner validation macro-F1 per mix of corpus and decisions: "
              f"{report['inner_validation_macro_f1']}).", f"Counts: {report['counts']}.",
              f"Decisions left out (article unknown): {report['left_out_without_article']}.", ""]
    return "\n".join(lines)
