"""Adapters from public, human-labeled data sets to our LabeledData (articles + comments frames).

The data stay where they are (`../shared/data/<set>/`, beside the project, never copied into the repository);
each adapter reads its set's files and builds the two frames in code, so every figure in docs/quality.md can be
reproduced from the original files. One module per data set:

    omp        One Million Posts (DER STANDARD, German): moderators' OffTopic labels, official 10 folds
    youtube    YouTube Spam Collection: spam vs. the rest, five videos
    qatar      SemEval-2015 Task 3, QatarLiving: Good -> on_topic, Bad + Dialogue -> off_topic
    fox        Fox News comments with article title + description (all on_topic: pairing test only)
    globe      SFU Constructiveness & Toxicity Corpus, Globe and Mail (all on_topic: pairing test only)

Besides the standard columns, an adapter may add columns a protocol needs (`fold`, `video`, `split`, ...);
`LabeledData.model_frame()` keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from training.data import LabeledData
from training.datasets import fox, globe, omp, qatar, youtube
from training.datasets.frames import default_data_root

#: Data-set name -> adapter; every adapter takes the data root (the folder holding the sets' folders).
ADAPTERS: dict[str, Callable[[Path], LabeledData]] = {
    "omp": omp.load,
    "youtube": youtube.load,
    "qatar": qatar.load,
    "fox": fox.load,
    "globe": globe.load,
}

__all__ = ["ADAPTERS", "default_data_root"]
