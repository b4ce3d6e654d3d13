"""The naive baselines for bench/serve_bench.py: FastAPI calling an sklearn pipeline's `predict_proba` per request.

This is what serving a scikit-learn model usually looks like: a plain `def` endpoint (FastAPI runs it in its
thread pool, as its docs advise for blocking code) that calls `pipeline.predict_proba` on the request's
comments. It returns labels and scores only: no actions, no reasons, no thread memory. Two pipelines:

- the same model (default): our bundle's fitted pipeline, fed a DataFrame with the article, so the
  comparison is the same model served naively;
- a comment-only `Pipeline(TfidfVectorizer(), LogisticRegression())` (NAIVE_PIPELINE_PATH names its joblib
  file): the cheapest model there is, about 0.5 ms per call, which is what the issue's own figures describe.

    MODERATE_MODEL_PATH=model/artifacts/default .venv/bin/uvicorn bench.serve_naive:create_app --factory
    NAIVE_PIPELINE_PATH=tfidf.joblib .venv/bin/uvicorn bench.serve_naive:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from pydantic import BaseModel

from api.settings import Settings, get_settings
from model.bundle import ModelBundle


class NaiveArticle(BaseModel):
    id: str
    title: str
    body: str = ""


class NaiveComment(BaseModel):
    id: str
    text: str
    parent_id: str | None = None


class NaiveRequest(BaseModel):
    article: NaiveArticle
    comments: list[NaiveComment]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    text_pipeline_path = os.environ.get("NAIVE_PIPELINE_PATH")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.bundle = ModelBundle.load(settings.model_path)
        app.state.text_pipeline = joblib.load(text_pipeline_path) if text_pipeline_path else None
        yield

    app = FastAPI(lifespan=lifespan)

    if text_pipeline_path:
        @app.post("/classify")
        def classify_text(body: NaiveRequest, request: Request) -> dict[str, Any]:
            pipeline = request.app.state.text_pipeline
            scores = pipeline.predict_proba([c.text for c in body.comments])
            classes = [str(c) for c in pipeline.classes_]
            return {
                "results": [
                    {"id": c.id, "label": classes[int(np.argmax(row))],
                     "scores": {label: float(p) for label, p in zip(classes, row, strict=True)}}
                    for c, row in zip(body.comments, scores, strict=True)
                ],
            }

        return app

    @app.post("/classify")
    def classify(body: NaiveRequest, request: Request) -> dict[str, Any]:
        bundle: ModelBundle = request.app.state.bundle
        frame = pd.DataFrame(
            {
                "comment_id": [c.id for c in body.comments],
                "parent_id": [c.parent_id for c in body.comments],
                "text": [c.text for c in body.comments],
                "article_key": body.article.id,
                "title": body.article.title,
                "body": body.article.body,
            }
        )
        scores = bundle.pipeline.predict_proba(frame)
        classes = [str(c) for c in bundle.pipeline.classes_]
        return {
            "model_version": bundle.version,
            "results": [
                {"id": c.id, "label": classes[int(np.argmax(row))],
                 "scores": {label: float(p) for label, p in zip(classes, row, strict=True)}}
                for c, row in zip(body.comments, scores, strict=True)
            ],
        }

    return app
