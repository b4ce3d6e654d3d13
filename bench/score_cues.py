"""Spam cues per text: `model.cues.spam_cues` beside the plain definition it must equal, in the same run.

    .venv/bin/python bench/score_cues.py                 # the real comments of data/labeled
    .venv/bin/python bench/score_cues.py --repeat 9

Small batches (1, 4, 16 texts per call, as the API calls it) against the plain small-batch definition: one
compiled RE2 count (`model.cue_engine.count_matches`) per pattern, capital and letter per text (what
`spam_cues` does without its prefilters). Large batches (the whole corpus in one call, as batch scoring calls
it) against one Arrow RE2 count of every pattern over every text. Wall time per text, best of `--repeat`
passes; both sides run alternately, and the script stops if any number differs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages are beside bench/

from model.cue_engine import CuePattern, compile_pattern, count_matches  # noqa: E402
from model.cues import _PATTERNS, SMALL_BATCH, spam_cues  # noqa: E402
from model.text import normalize_text  # noqa: E402


def plain_cues(texts: Sequence[str]) -> np.ndarray:
    """The definition, small-batch style: every pattern's RE2 count on every text."""
    patterns = _plain_patterns()
    counts = np.array([[count_matches(p, data) for p in patterns] for data in (t.encode() for t in texts)],
                      dtype=np.float64)
    uppers = np.array([len(re.findall("[A-Z]", t)) for t in texts], dtype=np.float64)
    letters = np.array([len(re.findall("[A-Za-z]", t)) for t in texts], dtype=np.float64)
    return _scaled(counts, uppers, letters, np.array([len(t) for t in texts], dtype=np.float64))


def plain_arrow_cues(texts: Sequence[str]) -> np.ndarray:
    """The definition, batch style: every pattern counted by RE2 over every text."""
    array = pa.array(texts, type=pa.large_string())
    counts = np.column_stack([
        pc.count_substring_regex(array, p, ignore_case=i).to_numpy(zero_copy_only=False).astype(np.float64)
        for p, i in _PATTERNS.values()
    ])
    uppers = pc.count_substring_regex(array, "[A-Z]").to_numpy(zero_copy_only=False).astype(np.float64)
    letters = pc.count_substring_regex(array, "[A-Za-z]").to_numpy(zero_copy_only=False).astype(np.float64)
    return _scaled(counts, uppers, letters, pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64))


_COMPILED: list[CuePattern] = []


def _plain_patterns() -> list[CuePattern]:
    if not _COMPILED:
        _COMPILED.extend(compile_pattern(p, ignore_case=i) for p, i in _PATTERNS.values())
    return _COMPILED


def _scaled(counts: np.ndarray, uppers: np.ndarray, letters: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.empty((len(lengths), counts.shape[1] + 2), dtype=np.float64)
    out[:, : counts.shape[1]] = np.log1p(counts)
    out[:, -2] = np.where(letters >= 8, uppers / np.maximum(letters, 1.0), 0.0)
    out[:, -1] = np.log1p(lengths)
    return out


def best_seconds(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=Path, default=ROOT / "data" / "labeled" / "comments.jsonl")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with args.comments.open(encoding="utf-8") as handle:
        texts = [normalize_text(json.loads(line)["text"]) for line in handle if line.strip()]
    n = len(texts)
    print(f"{n:,} comments from {args.comments}, mean {np.mean([len(t) for t in texts]):.0f} characters")
    print(f"{'call':28s} {'plain µs/text':>14s} {'spam_cues µs/text':>18s} {'speed-up':>9s}")
    for size in (1, 4, 16):
        batches = [texts[i : i + size] for i in range(0, n, size)]
        ours = np.vstack([spam_cues(b) for b in batches])
        if not np.array_equal(ours, np.vstack([plain_cues(b) for b in batches])):
            raise SystemExit(f"batches of {size}: spam_cues differs from the plain definition")
        plain = ours_s = float("inf")
        for _ in range(args.repeat):  # alternate, so that load elsewhere hits both sides alike
            plain = min(plain, best_seconds(lambda: [plain_cues(b) for b in batches], 1))  # noqa: B023
            ours_s = min(ours_s, best_seconds(lambda: [spam_cues(b) for b in batches], 1))  # noqa: B023
        print(f"{f'batches of {size}':28s} {plain * 1e6 / n:14.1f} {ours_s * 1e6 / n:18.1f} {plain / ours_s:8.1f}x")
    if n >= SMALL_BATCH:
        if not np.array_equal(spam_cues(texts), plain_arrow_cues(texts)):
            raise SystemExit("one large batch: spam_cues differs from the plain RE2 definition")
        plain = best_seconds(lambda: plain_arrow_cues(texts), args.repeat)
        ours_s = best_seconds(lambda: spam_cues(texts), args.repeat)
        print(f"{f'one batch of {n:,} (Arrow)':28s} {plain * 1e6 / n:14.2f} {ours_s * 1e6 / n:18.2f} "
              f"{plain / ours_s:8.1f}x")


if __name__ == "__main__":
    main()
