"""Request and response bodies, with their limits written on the fields.

The limits come from `Settings`, so the request models are built per app by `request_models(settings)`; the
OpenAPI schema at /docs then shows the limits this server really enforces. Response models are fixed.
Request models are strict (a number is not a string, "yes" is not a boolean) and ignore unknown fields, so
clients may send more (author, timestamps) without breaking.
"""

# No `from __future__ import annotations` here: pydantic resolves the annotations of the classes built inside
# `request_models` from that function's locals, which only works while they are real objects.

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.settings import Settings

_STRICT = ConfigDict(strict=True, extra="ignore")


@dataclass(frozen=True)
class RequestModels:
    """The request models of one app, with that app's limits (pydantic classes built by `request_models`)."""

    article: Any
    comment: Any
    classify: Any
    article_body: Any


def request_models(settings: Settings) -> RequestModels:
    """Request models whose field limits are the given settings."""
    Id = Annotated[str, Field(min_length=1, max_length=settings.max_id_chars)]

    class Article(BaseModel):
        """An article inline (id, title, body), or by reference (`id` alone, stored with PUT /articles/{id})."""

        model_config = _STRICT
        id: Id
        title: str | None = Field(
            None, min_length=1, max_length=settings.max_title_chars,
            description="Send the title (and body) inline, or leave both out to use the stored article.",
        )
        body: str | None = Field(None, max_length=settings.max_article_chars)

    class Comment(BaseModel):
        """One comment to classify."""

        model_config = _STRICT
        id: Id = Field(description="Unique within the request.")
        text: str = Field(min_length=1, max_length=settings.max_comment_chars)
        parent_id: Id | None = Field(
            None, description="Another comment of this request, or one the service already knows."
        )

    class ClassifyRequest(BaseModel):
        """The comments to classify and the article they sit under."""

        model_config = _STRICT
        article: Article
        comments: list[Comment] = Field(min_length=1, max_length=settings.max_comments)
        remember: bool = Field(
            True, description="Keep these comments as the article's thread and as parents for later calls."
        )

    class ArticleBody(BaseModel):
        """An article to store under the id in the path."""

        model_config = _STRICT
        title: str = Field(min_length=1, max_length=settings.max_title_chars)
        body: str = Field("", max_length=settings.max_article_chars)

    return RequestModels(article=Article, comment=Comment, classify=ClassifyRequest, article_body=ArticleBody)


class Result(BaseModel):
    """The decision for one comment."""

    id: str
    label: str = Field(description="on_topic, off_topic or spam.")
    scores: dict[str, float] = Field(description="Probability of each label; they sum to one.")
    action: str = Field(description="approve, review or reject, from the thresholds chosen in training.")
    reasons: list[str] = Field(description="The features that pushed this decision most, strongest first.")


class ClassifyResponse(BaseModel):
    """One result per comment, in request order."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    results: list[Result]


class ArticleOut(BaseModel):
    """A stored article."""

    id: str
    title: str
    body: str
    known_comments: int = Field(description="Comments under this article that the service remembers.")


class ModelInfo(BaseModel):
    """What GET /model says about the loaded bundle."""

    version: str
    labels: list[str]
    thresholds: dict[str, Any]
    created_at: str | None = None
    validation: dict[str, Any] = Field(default_factory=dict, description="Held-out metrics from training.")
    training_data: dict[str, Any] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)


class ErrorField(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a message, the field it is about (if any), and each problem of a validation error."""

    detail: str
    field: str | None = None
    errors: list[ErrorField] | None = None
