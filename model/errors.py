"""The errors the moderator raises, one tree so callers can catch at the level they care about.

    ModerationError                 base of everything below
    ├── DataError                   input data is malformed; names the file, line and field
    │   └── UnknownLabelError       a label outside on_topic / off_topic / spam
    ├── BundleError                 a model bundle cannot be loaded or saved
    │   ├── BundleNotFoundError     no bundle at the given path (train one first)
    │   └── BundleIntegrityError    hash, format or library version does not match: never unpickled
    └── ClassifyError               a classify call is inconsistent (duplicate ids, unknown parent)

`model/` never raises HTTP errors: `api/` maps these to status codes, the CLI to one line and exit code 1.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Base class of every error the moderator raises on purpose."""


class DataError(ModerationError, ValueError):
    """Raised when input data is malformed; the message names the place and what to fix."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, unit: str = "line") -> None:
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(format_place(path, line, field, unit) + message)


class UnknownLabelError(DataError):
    """Raised when a label is not one of the known labels."""


class BundleError(ModerationError):
    """Raised when a model bundle cannot be loaded or saved."""


class BundleNotFoundError(BundleError, FileNotFoundError):
    """Raised when there is no bundle at the given path."""


class BundleIntegrityError(BundleError):
    """Raised when a bundle's hash, format version or library versions do not match its metadata."""


class ClassifyError(ModerationError, ValueError):
    """Raised when the comments handed to classify contradict each other (duplicate ids, unknown parents)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


def format_place(path: str | None, line: int | None, field: str | None, unit: str = "line") -> str:
    """`comments.csv line 214, field 'label': ` — the prefix every DataError message starts with.

    `unit` is "line" for text files and "row" for Parquet, which has rows but no lines.
    """
    parts = []
    if path is not None:
        parts.append(str(path))
    if line is not None:
        parts.append(f"{unit} {line}")
    place = " ".join(parts)
    if field is not None:
        place = f"{place}, field '{field}'" if place else f"field '{field}'"
    return f"{place}: " if place else ""
