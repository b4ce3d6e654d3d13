"""The naive batch scorer every figure is compared with: pandas read, TF-IDF + logistic regression, write.

    .venv/bin/python bench/score_naive.py fit  --model /tmp/naive.joblib
    .venv/bin/python bench/score_naive.py score --model /tmp/naive.joblib --input comments.csv --output out.parquet

`fit` trains `Pipeline(TfidfVectorizer(), LogisticRegression())` on the comment text of our labeled corpus (it
never sees the article). `score` is what a data scientist would write first: read the whole CSV with pandas,
`predict_proba` on the whole text column, add the columns, write Parquet. It prints one JSON line with its
timings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled"


def fit(model_path: Path) -> None:
    import joblib
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    comments = pd.read_json(CORPUS / "comments.jsonl", lines=True)
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("classifier", LogisticRegression(max_iter=2000))])
    pipeline.fit(comments["text"], comments["label"])
    joblib.dump(pipeline, model_path)


def score(model_path: Path, input_path: Path, output_path: Path) -> dict[str, float]:
    import joblib
    import numpy as np
    import pandas as pd

    pipeline = joblib.load(model_path)
    started = time.perf_counter()
    frame = pd.read_csv(input_path, dtype=str, keep_default_na=False)
    read = time.perf_counter()
    scores = pipeline.predict_proba(frame["text"])
    scored = time.perf_counter()
    labels = pipeline.classes_
    frame["label"] = labels[np.argmax(scores, axis=1)]
    for j, label in enumerate(labels):
        frame[f"score_{label}"] = np.round(scores[:, j], 6)
    frame.to_parquet(output_path, index=False)
    written = time.perf_counter()
    return {"rows": len(frame), "read_s": read - started, "score_s": scored - read, "write_s": written - scored,
            "total_s": written - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["fit", "score"])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.step == "fit":
        fit(args.model)
    else:
        print(json.dumps(score(args.model, args.input, args.output)))


if __name__ == "__main__":
    main()
