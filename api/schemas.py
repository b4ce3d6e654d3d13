"""Request and response bodies, with their limits written on the fields.

The limits come from `Settings`, so the request models are built per app by `request_models(settings)`; the
OpenAPI schema at /docs then shows the limits this server really enforces. Response models are fixed.
Request models are strict (a number is not a string, "yes" is not a boolean) and ignore unknown fields, so
clients may send more (author, timestamps) without breaking.

Every id (article, comment and parent ids, and the article id in a path) is NFC-normalised, so 'é' composed and
decomposed name one article, and refused with a 422 naming the field when it holds a character that a moderator
cannot see or that reorders what is shown around it (`clean_id`).
"""

# No `from __future__ import annotations` here: pydantic resolves the annotations of the classes built inside
# `request_models` from that function's locals, which only works while they are real objects.

import unicodedata
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from api.article_urls import url_key
from api.settings import Settings

_STRICT = ConfigDict(strict=True, extra="ignore")

#: Unicode categories refused in ids: Cc (controls: NUL, escape, newline...) and Cf (format characters: the bidi
#: embeddings, overrides and isolates U+202A-202E and U+2066-2069, the marks U+200E/U+200F, the zero-width
#: U+200B-200D, U+2060 and U+FEFF, soft hyphen, tags). An id is a key, never prose, so none of them belongs in
#: one, and each lets two ids look alike in a moderator's page or makes an id reorder the text around it.
_REFUSED_CATEGORIES = {"Cc": "control", "Cf": "invisible formatting"}

ID_RULE = "NFC-normalised; control and invisible formatting characters (bidi, zero-width) are refused"


def clean_id(value: str, max_chars: int) -> str:
    """The id in NFC; raises a pydantic error (a 422 naming the field) for a refused character.

    NFC rather than NFKC: an id is compared exactly, and compatibility folding would merge ids that a client
    keeps apart ('ﬁ' and 'fi'); NFC only merges spellings that are the same text.
    """
    if value.isascii() and value.isprintable():  # the usual id: no control or format character, already NFC
        return value
    for position, char in enumerate(value):
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            name = unicodedata.name(char, "")
            raise PydanticCustomError(
                "id_character",
                "{kind} character {char} at position {position} is not allowed in an id",
                {"kind": kind, "char": f"U+{ord(char):04X}" + (f" {name}" if name else ""), "position": position},
            )
    normal = unicodedata.normalize("NFC", value)
    if len(normal) > max_chars:  # NFC can lengthen a few rare characters
        raise PydanticCustomError("string_too_long", "String should have at most {max_length} characters",
                                  {"max_length": max_chars})
    return normal


def id_check(max_chars: int) -> AfterValidator:
    """`clean_id` as the validator of an `Annotated[str, ...]` id, for body fields and path parameters alike."""
    return AfterValidator(partial(clean_id, max_chars=max_chars))


_MAX_URL_CHARS = 2048


def _article_url(value: str) -> str:
    """An address the integrations can look an article up by (`api.article_urls`), else a 422 naming the field."""
    if url_key(value) is None:
        raise PydanticCustomError("article_url", "expected an http or https URL with a host")
    return value.strip()


@dataclass(frozen=True)
class RequestModels:
    """The request models of one app, with that app's limits (pydantic classes built by `request_models`)."""

    article: Any
    comment: Any
    classify: Any
    article_body: Any


def request_models(settings: Settings) -> RequestModels:
    """Request models whose field limits are the given settings."""
    Id = Annotated[str, Field(min_length=1, max_length=settings.max_id_chars, description=ID_RULE),
                   id_check(settings.max_id_chars)]

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
        id: Id = Field(description=f"Unique within the request; {ID_RULE}.")
        text: str = Field(min_length=1, max_length=settings.max_comment_chars)
        parent_id: Id | None = Field(
            None, description="Another comment of this request, or one the service already knows; replies within "
                              "a request may not form a cycle.",
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
        url: Annotated[str, AfterValidator(_article_url)] | None = Field(
            None, max_length=_MAX_URL_CHARS,
            description="The article's address (http or https), by which Coral and Akismet clients name it.",
        )

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
    url: str | None = None
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
