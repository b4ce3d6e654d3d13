"""A model bundle on disk: its format version, library versions, integrity checks and atomic writes.

`model.bundle.ModelBundle.save` and `.load` use these; they are apart so that what decides whether a file is
safe to unpickle can be read in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from model.errors import BundleIntegrityError

FORMAT_VERSION = 3  # 2: thread-distinctiveness column and background_; 3: spam and topic heads
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


def library_versions() -> dict[str, str]:
    """Versions that decide whether a pickled pipeline behaves the same when loaded."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def read_metadata(path: Path) -> dict[str, Any]:
    """metadata.json as a dict; anything else is a BundleIntegrityError (nothing is unpickled yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleIntegrityError(f"{path}: cannot be read as JSON ({error})") from error
    if not isinstance(data, dict):
        raise BundleIntegrityError(f"{path}: expected a JSON object")
    return data


def check_compatible(metadata: dict[str, Any], path: Path) -> None:
    """Refuse a bundle of another format version or scikit-learn minor version before unpickling it."""
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleIntegrityError(
            f"{path}: bundle format version {version!r}, this program reads version {FORMAT_VERSION}; "
            "retrain with `moderate train`"
        )
    trained_with = str(metadata.get("library_versions", {}).get("scikit-learn", "unknown"))
    if _minor(trained_with) != _minor(sklearn.__version__):
        raise BundleIntegrityError(
            f"{path}: trained with scikit-learn {trained_with}, this environment has {sklearn.__version__}; "
            "a pickled pipeline is only safe on the same minor version: retrain with `moderate train`"
        )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def sha256_of(path: Path) -> str:
    """The file's SHA-256, compared with the metadata's before unpickling: unpickling runs code."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a bundle."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)  # noqa: SIM115
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # NamedTemporaryFile creates 0600; a bundle is meant to be shared
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
