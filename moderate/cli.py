"""The `moderate` command line: train, evaluate, score, serve, retrain and rollback.

`moderate/` is the one package allowed to import every other (training, batch, api, model); each command
imports what it needs inside itself, so `moderate --help` and a usage error answer at once. `moderate score`
is declared with its work in `moderate.score`. User-facing failures are one line on stderr and exit code 1
(usage errors, which click reports, exit 2); nothing here prints a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from model.errors import ModerationError
from moderate.console import DEFAULT_DATA, DEFAULT_MODEL, ModelOption, console, fail
from moderate.retrain import retrain, rollback
from moderate.score import score

app = typer.Typer(
    name="moderate",
    help="Sort reader comments under news articles into on_topic, off_topic and spam.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(score)
app.command()(retrain)
app.command()(rollback)


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Folder with articles.* and comments.*.")] = DEFAULT_DATA,
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the bundle and its report into.")
    ] = DEFAULT_MODEL,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds, grouped by article.")] = 5,
    reject_precision: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="Held-out precision a reject decision must reach.")
    ] = 0.98,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Train a model on labeled data, evaluate it on held-out articles, and save the bundle and report.

    Example: moderate train --data data/labeled --out model/artifacts/default
    """
    from training.config import TrainingConfig
    from training.data import load_labeled
    from training.report import write_report
    from training.train import train as train_bundle

    config = TrainingConfig(folds=folds, reject_precision=reject_precision)
    try:
        labeled = load_labeled(data)
        result = train_bundle(labeled, config, progress=None if quiet else lambda m: console.print(f"· {m}"))
        folder = result.bundle.save(out)
        written = write_report(folder / "report", result.metrics, result.cross_validation)
    except (ModerationError, ValueError, OSError) as error:
        raise fail(str(error)) from None
    print_summary(result.metrics)
    console.print(f"model {result.bundle.version} saved to {folder}; report in {written[1]}")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Folder with articles.* and comments.* (labeled).")],
    model: ModelOption = DEFAULT_MODEL,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for metrics.json and report.md (optional).")
    ] = None,
) -> None:
    """Evaluate a saved bundle on labeled data (use articles the model never saw).

    Example: moderate evaluate --data path/to/heldout --model model/artifacts/default
    """
    from model.bundle import ModelBundle
    from training.data import load_labeled
    from training.report import write_report
    from training.train import evaluate_bundle

    try:
        bundle = ModelBundle.load(model)
        metrics = evaluate_bundle(bundle, load_labeled(data))
        if out is not None:
            write_report(out, metrics, None)
    except (ModerationError, ValueError, OSError) as error:
        raise fail(str(error)) from None
    print_summary(metrics)
    typer.echo(json.dumps({"model_version": bundle.version, "macro_f1": metrics["model"]["macro_f1"]}))


@app.command()
def serve(
    model: ModelOption = DEFAULT_MODEL,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    database: Annotated[
        Path | None, typer.Option("--database", help="SQLite file for articles (default: MODERATE_DATABASE_PATH).")
    ] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = False,
) -> None:
    """Serve the model over HTTP: POST /classify, PUT /articles/{id}, /health, /ready, /model, /metrics, /docs.

    Other settings come from MODERATE_* environment variables (see api/settings.py), e.g. MODERATE_API_KEY.

    Example: moderate serve --model model/artifacts/default --host 127.0.0.1 --port 8000
    """
    from pydantic import ValidationError

    from api.server import serve as run_server
    from api.settings import Settings

    try:
        overrides: dict[str, object] = {"model_path": model}
        if database is not None:
            overrides["database_path"] = database
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problem = error.errors()[0]
        raise fail(f"setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    if not (model / "model.joblib").exists():
        console.print(f"[yellow]warning:[/yellow] no model at {model}; /classify answers 503 until one is "
                      f"trained (`moderate train --out {model}`) and loaded (POST /admin/reload)", highlight=False)
    try:
        run_server(settings, host=host, port=port, workers=workers, access_log=access_log)
    except (ModerationError, OSError) as error:
        raise fail(str(error)) from None


def print_summary(metrics: dict) -> None:  # type: ignore[type-arg]
    table = Table(title=metrics.get("protocol", ""), title_justify="left")
    table.add_column("model")
    table.add_column("macro-F1", justify="right")
    labels = list(metrics["model"]["per_class"])
    for label in labels:
        table.add_column(f"{label} F1", justify="right")
    for name, key in (("ours", "model"), ("ours, no thread", "model_without_thread"), ("baseline", "baseline")):
        if key in metrics:
            block = metrics[key]
            table.add_row(name, f"{block['macro_f1']:.3f}",
                          *[f"{block['per_class'][label]['f1']:.3f}" for label in labels])
    Console(file=sys.stdout).print(table)
    if "actions" in metrics:
        share = metrics["actions"]["share"]
        precision = metrics["actions"]["precision"]
        typer.echo(
            "actions on held-out comments: "
            + ", ".join(f"{a} {share[a]:.1%}" for a in share)
            + " | precision "
            + ", ".join(f"{a} {v:.3f}" for a, v in precision.items())
        )
    if "seconds" in metrics:
        typer.echo("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in metrics["seconds"].items()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
