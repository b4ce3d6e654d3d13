"""Perspective API, compatible: POST /v1alpha1/comments:analyze and /v1alpha1/comments:suggestscore.

Perspective's clients (Coral's toxicity phase among them: its endpoint and model name are settings) switch by
pointing their endpoint here; the key goes in `?key=` (or Google's `X-Goog-Api-Key` header) and is checked against
MODERATE_API_KEY. Our attributes are SPAM, OFF_TOPIC and ON_TOPIC, each the calibrated probability of that label;
any other attribute is Perspective's 400 error. The requests and answers are Perspective's
(2-api/methods.md in conversationai/perspectiveapi), with one extension and these readings:

    article        Perspective ignores `context`; we read it. The article is, first found first:
                   `articleId` (our extension, beside `comment`): a stored article, or with context entries the
                   article they carry under that id; an entry whose text is a JSON object with a `url` (Coral's
                   suggestscore sends the story's) names a stored article by its address; else the entries are
                   the article inline: the first is its title, the others its body. Without any, SPAM is
                   judged alone and OFF_TOPIC / ON_TOPIC are refused (400): off topic means nothing without it.
    spanScores     with spanAnnotations, per sentence of comment.text (begin and end are code-point offsets,
                   end exclusive), each sentence scored under the same article; needs PLAIN_TEXT.
    doNotStore     true: nothing of the comment is kept (no stored comment, no classification row).
    scoreThreshold an attribute (and a span) scoring below it is left out, as Perspective does.
    languages      echoed; ["en"] when none are sent (no detection: the model reads English).
    shadow mode    `attributeScores` is empty: no score for a client to act on. Coral's phase then logs
                   "could not determine" and goes on, which is its "no opinion"; the classification is stored.

suggestscore is a moderator's decision (source "perspective") about the comment with that text under that article
(`api.integrations.judge.decision_id`); an article carried inline must have been seen by an analyze that was
allowed to store (else 404). SPAM or OFF_TOPIC at 0.5 or more is that label
(the higher wins if both), ON_TOPIC at 0.5 or more is on_topic, and ON_TOPIC below 0.5 is off_topic; SPAM or
OFF_TOPIC below 0.5 alone say the comment is acceptable: on_topic (Coral sends 0 when its moderator approves).
"""

# No `from __future__ import annotations`: FastAPI resolves the body models built in the router factory.

import hashlib
import json
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.decisions import DecisionError, NewDecision
from api.integrations.judge import Judge, Subject, decision_id, find_article, record
from api.integrations.protocol import ProtocolRoute
from api.middleware import key_matches
from api.routes.deps import get_service
from api.schemas import _STRICT
from api.service import Service
from api.settings import Settings
from model.labels import OFF_TOPIC, ON_TOPIC, SPAM
from model.markup import body_text

#: Our attributes and the labels they score.
ATTRIBUTES = {"SPAM": SPAM, "OFF_TOPIC": OFF_TOPIC, "ON_TOPIC": ON_TOPIC}
_NEEDS_ARTICLE = ("OFF_TOPIC", "ON_TOPIC")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
_MAX_ENTRIES = 20
_CANONICAL = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 503: "UNAVAILABLE"}


def google_error(code: int, message: str, status: str | None = None) -> JSONResponse:
    """The error body every Google API answers with."""
    return JSONResponse({"error": {"code": code, "message": message, "status": status or _CANONICAL[code]}},
                        status_code=code)


class PerspectiveError(Exception):
    """Raised by the routes for an answer in Google's error shape (caught by the route class)."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _PerspectiveRoute(ProtocolRoute):
    async def refuse(self, request: Request, settings: Settings) -> Response | None:
        offered = request.query_params.get("key") or request.headers.get("x-goog-api-key")
        if key_matches(settings, offered):
            return None
        if not offered:
            return google_error(403, "The request is missing a valid API key.")
        return google_error(400, "API key not valid. Please pass a valid API key.")

    def invalid(self, status: int, field: str, message: str) -> Response:
        return google_error(400, f"Invalid request: {message}")

    def unavailable(self, message: str) -> Response:
        return google_error(503, message)

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except PerspectiveError as error:
                return google_error(error.code, error.message, error.status)

        return answer


# -- bodies -------------------------------------------------------------------------------------------------------
class ErrorStatus(BaseModel):
    code: int
    message: str
    status: str


class ErrorAnswer(BaseModel):
    error: ErrorStatus


class Score(BaseModel):
    value: float
    type: str = "PROBABILITY"


class SpanScore(BaseModel):
    begin: int
    end: int
    score: Score


class AttributeScores(BaseModel):
    summaryScore: Score | None = None
    spanScores: list[SpanScore] | None = None


class AnalyzeResponse(BaseModel):
    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    clientToken: str | None = None


class SuggestResponse(BaseModel):
    clientToken: str | None = None


def _models(settings: Settings) -> tuple[Any, Any]:
    class TextEntry(BaseModel):
        model_config = _STRICT
        text: str = Field(max_length=settings.max_article_chars)
        type: str | None = Field(None, max_length=32)

    class CommentText(TextEntry):
        text: str = Field(min_length=1, max_length=settings.max_comment_chars)

    class Context(BaseModel):
        model_config = _STRICT
        entries: list[TextEntry] = Field(default_factory=list, max_length=_MAX_ENTRIES)

    class AttributeRequest(BaseModel):
        model_config = _STRICT
        scoreType: str | None = Field(None, max_length=32)
        scoreThreshold: float | None = Field(None, ge=0.0, le=1.0)

    class Common(BaseModel):
        model_config = _STRICT
        comment: CommentText
        context: Context | None = None
        languages: list[str] | None = Field(None, max_length=10)
        clientToken: str | None = Field(None, max_length=1000)
        articleId: str | None = Field(None, min_length=1, max_length=settings.max_id_chars,
                                      description="Our extension: the stored article the comment sits under.")

    class AnalyzeRequest(Common):
        """Perspective's AnalyzeComment request."""

        requestedAttributes: dict[str, AttributeRequest] = Field(min_length=1, max_length=10)
        spanAnnotations: bool = False
        doNotStore: bool = False
        sessionId: str | None = Field(None, max_length=1000)

    class SummaryOnly(BaseModel):
        model_config = _STRICT
        summaryScore: Score

    class SuggestRequest(Common):
        """Perspective's SuggestCommentScore request: the scores the client believes are right."""

        attributeScores: dict[str, SummaryOnly] = Field(min_length=1, max_length=10)
        communityId: str | None = Field(None, max_length=1000)

    return AnalyzeRequest, SuggestRequest


# -- reading a request ------------------------------------------------------------------------------------------
def _subject(service: Service, body: Any, *, remember: bool) -> Subject:
    """The comment and its article, by the rules in the module docstring."""
    text = body.comment.text if body.comment.type in (None, "PLAIN_TEXT") else body_text(body.comment.text)
    entries = [entry.text for entry in body.context.entries] if body.context is not None else []
    addresses = [_address(entry) for entry in entries]
    url = next((a for a in addresses if a), None)
    prose = [entry for entry, address in zip(entries, addresses, strict=True) if address is None]
    if body.articleId is not None:
        if prose:
            return Subject(text, body.articleId, title=prose[0], body="\n\n".join(prose[1:]), remember=remember)
        if find_article(service, article_id=body.articleId) is None:
            raise PerspectiveError(404, f"articleId {body.articleId!r} is not a stored article: store it with "
                                        "PUT /articles/{id}, or send its title and body in context.entries")
        return Subject(text, body.articleId, remember=remember)
    if url is not None and (found := find_article(service, url=url)) is not None:
        return Subject(text, found, remember=remember)
    if prose:
        inline_id = "ctx" + hashlib.sha256("\x00".join(prose).encode("utf-8", "surrogatepass")).hexdigest()[:20]
        return Subject(text, inline_id, title=prose[0], body="\n\n".join(prose[1:]), remember=remember)
    return Subject(text, None, remember=False)


def _address(entry: str) -> str | None:
    """The url of an entry that is a JSON object with one (Coral's suggestscore context), else None."""
    if not entry.startswith("{"):
        return None
    try:
        value = json.loads(entry)
    except ValueError:
        return None
    url = value.get("url") if isinstance(value, dict) else None
    return url if isinstance(url, str) and url else None


def sentences(text: str) -> list[tuple[int, int]]:
    """(begin, end) of each sentence of `text`, white space around it left out."""
    spans = []
    for match in _SENTENCE.finditer(text):
        part = match.group()
        begin = match.start() + len(part) - len(part.lstrip())
        end = match.start() + len(part.rstrip())
        if end > begin:
            spans.append((begin, end))
    return spans


def _check_attributes(names: list[str], labels: list[str], has_article: bool) -> None:
    for name in names:
        if name not in ATTRIBUTES or ATTRIBUTES[name] not in labels:
            known = ", ".join(a for a in ATTRIBUTES if ATTRIBUTES[a] in labels)
            raise PerspectiveError(400, f"Attribute {name} does not exist: this server scores {known}.")
        if name in _NEEDS_ARTICLE and not has_article:
            raise PerspectiveError(400, f"Attribute {name} needs the comment's article: name a stored one with "
                                        "articleId, or send its title and body in context.entries.")


def suggested_label(scores: dict[str, float]) -> str:
    """The label a SuggestCommentScore request means (see the module docstring)."""
    bad = {ATTRIBUTES[name]: value for name, value in scores.items() if name in ("SPAM", "OFF_TOPIC") and value >= 0.5}
    if bad:
        return max(bad, key=lambda label: bad[label])
    if "ON_TOPIC" in scores:
        return ON_TOPIC if scores["ON_TOPIC"] >= 0.5 else OFF_TOPIC
    return ON_TOPIC


# -- the router ---------------------------------------------------------------------------------------------------
def perspective_router(settings: Settings, judge: Judge) -> APIRouter:
    router = APIRouter(tags=["integrations: Perspective"], route_class=_PerspectiveRoute)
    analyze_request, suggest_request = _models(settings)
    keyed = {"parameters": [{"name": "key", "in": "query", "required": False, "schema": {"type": "string"},
                             "description": "The API key (MODERATE_API_KEY), as Perspective's clients send it."}]}
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorAnswer, "description": description} for code, description in (
            (400, "A field is wrong, an attribute unknown, or the key not valid."),
            (403, "No API key was sent."), (404, "articleId names no stored article."),
            (503, "No model is loaded, or the database is unavailable."))}

    @router.post("/v1alpha1/comments:analyze", response_model=AnalyzeResponse, responses=errors,
                 openapi_extra=keyed)
    async def analyze(body: analyze_request, request: Request) -> Response:  # type: ignore[valid-type]
        """Perspective's AnalyzeComment: SPAM, OFF_TOPIC and ON_TOPIC scores of one comment."""
        service = get_service(request)
        payload: Any = body  # built per settings, so typed loosely
        labels = list(service.require_model().bundle.labels)
        subject = _subject(service, payload, remember=not payload.doNotStore)
        names = list(payload.requestedAttributes)
        _check_attributes(names, labels, subject.article_id is not None)
        for name, wanted in payload.requestedAttributes.items():
            if wanted.scoreType not in (None, "PROBABILITY"):
                raise PerspectiveError(400, f"requestedAttributes.{name}.scoreType: only PROBABILITY is supported.")
        spans: list[tuple[int, int]] = []
        if payload.spanAnnotations:
            if payload.comment.type not in (None, "PLAIN_TEXT"):
                raise PerspectiveError(400, "spanAnnotations needs comment.type PLAIN_TEXT: spans are positions "
                                            "in comment.text.")
            spans = sentences(subject.text)[:service.settings.max_comments]
        verdict = await judge(service, subject, spans=spans)
        shadow = service.settings.shadow
        service.metrics.integration_events.labels("perspective", "analyze", "shadow" if shadow else "scored").inc()
        scores: dict[str, Any] = {}
        for name in [] if shadow else names:
            label, floor = ATTRIBUTES[name], payload.requestedAttributes[name].scoreThreshold or 0.0
            entry: dict[str, Any] = {}
            if verdict.scores[label] >= floor:
                entry["summaryScore"] = {"value": verdict.scores[label], "type": "PROBABILITY"}
            if spans:
                entry["spanScores"] = [{"begin": begin, "end": end, "score": {"value": part[label],
                                                                              "type": "PROBABILITY"}}
                                       for (begin, end), part in zip(spans, verdict.spans, strict=True)
                                       if part[label] >= floor]
            if entry.get("summaryScore") or entry.get("spanScores"):
                scores[name] = entry
        answer: dict[str, Any] = {"attributeScores": scores, "languages": payload.languages or ["en"]}
        if payload.clientToken is not None:
            answer["clientToken"] = payload.clientToken
        return JSONResponse(answer)

    @router.post("/v1alpha1/comments:suggestscore", response_model=SuggestResponse, responses=errors,
                 openapi_extra=keyed)
    async def suggestscore(body: suggest_request, request: Request) -> Response:  # type: ignore[valid-type]
        """Perspective's SuggestCommentScore: the score a moderator says is right, stored as their decision."""
        service = get_service(request)
        payload: Any = body  # built per settings, so typed loosely
        labels = list(service.require_model().bundle.labels)
        subject = _subject(service, payload, remember=True)
        suggested = {name: score.summaryScore.value for name, score in payload.attributeScores.items()}
        _check_attributes(list(suggested), labels, True)
        if subject.article_id is None:
            raise PerspectiveError(400, "The comment's article is not known, so the suggestion cannot be stored: "
                                        "name it with articleId or send it in context.entries.",
                                   "FAILED_PRECONDITION")
        comment_id = await decision_id(service, subject.article_id, subject.text)
        try:
            await record(service, [NewDecision(comment_id=comment_id, label=suggested_label(suggested),
                                               article_id=subject.article_id, text=subject.text,
                                               source="perspective")])
        except DecisionError as error:
            raise PerspectiveError(404 if error.status == 404 else 400, error.detail) from error
        service.metrics.integration_events.labels("perspective", "suggestscore", "decision stored").inc()
        return JSONResponse({} if payload.clientToken is None else {"clientToken": payload.clientToken})

    return router
