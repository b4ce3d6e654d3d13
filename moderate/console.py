"""How every `moderate` command talks to a person: one stderr console, and failures as one line with exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

DEFAULT_DATA = Path("data/labeled")
DEFAULT_MODEL = Path("model/artifacts/default")

console = Console(stderr=True)

ModelOption = Annotated[
    Path, typer.Option("--model", help="Bundle folder written by `moderate train --out`.", show_default=True)
]


def fail(message: str) -> typer.Exit:
    """Print one clear line and return the exit to raise (the message is text, never markup: `.[dask]`)."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)
