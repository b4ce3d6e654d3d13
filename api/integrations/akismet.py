"""Akismet, compatible: POST /1.1/verify-key, /1.1/comment-check, /1.1/submit-spam and /1.1/submit-ham.

Form-encoded requests and plain-text answers as Akismet gives them (Automattic/akismet-sdk-php spec.yml; the
`akismet` client on the package index reads them so), so a WordPress site or an Akismet library moves here by
changing the host:

    verify-key      `key` (or `api_key`) and `blog`: "valid", or "invalid" with X-akismet-debug-help
    comment-check   "true" (spam: hold it), with X-akismet-pro-tip: discard when we would reject it outright;
                    "false" otherwise
    submit-*        "Thanks for making the web a better place."
    a wrong key     "invalid" with X-akismet-debug-help, as Akismet answers a key it does not know
    a bad request   "Missing required field: user_ip." (or what else is wrong), with X-akismet-debug-help

Akismet answers every one of these with HTTP 200 (its clients read the text, and the `akismet` client raises on
any other status without reading it), and so do we. `api_key` is checked against MODERATE_API_KEY.

Reading the fields: `comment_content` is the comment (HTML or text), `permalink` names the stored article by its
address (`PUT /articles/{id}` with `url`); without it, or for an article we do not store, the comment is judged
for spam only and nothing is kept. `is_test` keeps nothing either (Akismet: not to be learned from).
comment-check says "true" for what we would reject, and for what we would send to review as spam; Akismet has
no "hold for review" answer, so an off-topic comment we would only review is "false".

submit-spam and submit-ham are moderators' decisions (source "akismet") about the comment with that text under
that article. submit-spam is spam. submit-ham means the site keeps the comment: on_topic, whatever we had called
it, so a ham submission of a comment we called off topic overturns that call (it is how WordPress says "not
spam", and a site that wants to say "off topic but keep it" has /feedback).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from api.decisions import DecisionError, NewDecision
from api.integrations.judge import Judge, Subject, decision_id, find_article, record
from api.integrations.protocol import ProtocolRoute
from api.middleware import key_matches
from api.routes.deps import get_service
from api.service import Service
from api.settings import Settings
from model.labels import ON_TOPIC, REJECT, REVIEW, SPAM
from model.markup import body_text

THANKS = "Thanks for making the web a better place."
DEBUG_HEADER = "X-akismet-debug-help"
PRO_TIP_HEADER = "X-akismet-pro-tip"
_REQUIRED = ("blog", "user_ip")
_MAX_FIELDS = 100
_MAX_FIELD_CHARS = 2048  # any field but the comment's text
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w-]+)", re.I)
_TRUE = ("1", "true", "yes")


def plain(text: str, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/plain", headers=headers)


def _problem(message: str) -> Response:
    """Akismet's answer to a request it cannot serve: the reason in the body and in its debug header."""
    return plain(message, {DEBUG_HEADER: message})


class _Refused(Exception):
    """Raised while reading a form, with Akismet's answer."""

    def __init__(self, answer: Response) -> None:
        self.answer = answer


class _AkismetRoute(ProtocolRoute):
    def invalid(self, status: int, field: str, message: str) -> Response:
        return _problem(message)

    def unavailable(self, message: str) -> Response:
        return plain(message, {DEBUG_HEADER: message}, status=503)

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except _Refused as refused:
                return refused.answer

        return answer


async def read_form(request: Request, settings: Settings, *, key_field: str = "api_key") -> dict[str, str]:
    """The form's fields (the last value of a repeated one), after the key and the required fields are checked.

    Raises _Refused with Akismet's answer: "invalid" for a key that is not MODERATE_API_KEY, a missing-field line
    for a missing `blog` or `user_ip`, a line naming the field for one over its limit.
    """
    body = await request.body()
    match = _CHARSET.search(request.headers.get("content-type", ""))
    charset = match.group(1) if match else "utf-8"
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding=charset, errors="replace",
                          max_num_fields=_MAX_FIELDS)
    except (ValueError, LookupError) as error:  # too many fields, an unknown charset
        raise _Refused(_problem(f"Invalid request: {error}")) from None
    fields = dict(pairs)
    offered = fields.get(key_field) or fields.get("key" if key_field == "api_key" else "api_key")
    if not key_matches(settings, offered or None):
        raise _Refused(plain("invalid", {DEBUG_HEADER: f"The {key_field} is not this server's key "
                                                       "(MODERATE_API_KEY)."}))
    for name in _REQUIRED if key_field == "api_key" else ("blog",):
        if not fields.get(name):
            raise _Refused(_problem(f"Missing required field: {name}."))
    for name, value in fields.items():
        limit = settings.max_comment_chars if name == "comment_content" else _MAX_FIELD_CHARS
        if len(value) > limit:
            raise _Refused(_problem(f"Invalid request: {name} is longer than {limit} characters."))
    return fields


def _comment(service: Service, fields: dict[str, str]) -> tuple[str, str | None]:
    """The comment's text and the stored article its permalink names (None: not known)."""
    permalink = fields.get("permalink")
    article_id = find_article(service, url=permalink) if permalink else None
    return body_text(fields.get("comment_content", "")), article_id


_FORM = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["api_key", "blog", "user_ip"],
        "properties": {name: {"type": "string"} for name in (
            "api_key", "blog", "user_ip", "user_agent", "referrer", "permalink", "comment_type", "comment_author",
            "comment_author_email", "comment_author_url", "comment_content", "comment_date_gmt",
            "comment_post_modified_gmt", "comment_parent", "blog_lang", "blog_charset", "user_role", "is_test",
            "recheck_reason", "honeypot_field_name", "comment_context")}}}}},
}
_VERIFY_FORM = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["key", "blog"],
        "properties": {"key": {"type": "string"}, "api_key": {"type": "string"}, "blog": {"type": "string"}}}}}},
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Akismet's plain-text answer (errors too: Akismet answers them with 200).",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    503: {"description": "No model is loaded, or the database is unavailable.",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


def akismet_router(judge: Judge) -> APIRouter:
    router = APIRouter(tags=["integrations: Akismet"], route_class=_AkismetRoute)

    @router.post("/1.1/verify-key", response_class=Response, responses=_ANSWERS, openapi_extra=_VERIFY_FORM)
    async def verify_key(request: Request) -> Response:
        """Akismet's key check: "valid" when `key` is this server's API key and `blog` is given."""
        service = get_service(request)
        await read_form(request, service.settings, key_field="key")
        return plain("valid")

    @router.post("/1.1/comment-check", response_class=Response, responses=_ANSWERS, openapi_extra=_FORM)
    async def comment_check(request: Request) -> Response:
        """Akismet's check: "true" for a comment to hold as spam (or to discard), "false" otherwise."""
        service = get_service(request)
        fields = await read_form(request, service.settings)
        text, article_id = _comment(service, fields)
        if not text:
            return plain("false")  # nothing to judge: Akismet's other signals are not ours
        verdict = await judge(service, Subject(text=text, article_id=article_id,
                                               parent_id=fields.get("comment_parent") or None,
                                               remember=fields.get("is_test", "").lower() not in _TRUE))
        opinion = verdict.opinion(shadow=service.settings.shadow)
        service.metrics.integration_events.labels("akismet", "comment-check", opinion or "no opinion").inc()
        if opinion == REJECT:
            return plain("true", {PRO_TIP_HEADER: "discard"})
        return plain("true" if opinion == REVIEW and verdict.label == SPAM else "false")

    async def submit(request: Request, service: Service, label: str, event: str) -> Response:
        fields = await read_form(request, service.settings)
        text, article_id = _comment(service, fields)
        if article_id is None or not text or fields.get("is_test", "").lower() in _TRUE:
            outcome = "test" if text and article_id else "unmatched"
            service.metrics.integration_events.labels("akismet", event, outcome).inc()
            return plain(THANKS)
        comment_id = await decision_id(service, article_id, text)
        try:
            await record(service, [NewDecision(comment_id=comment_id, label=label, article_id=article_id, text=text,
                                               source="akismet")])
        except DecisionError as error:
            return _problem(f"Invalid request: {error.detail}")
        service.metrics.integration_events.labels("akismet", event, "decision stored").inc()
        return plain(THANKS)

    @router.post("/1.1/submit-spam", response_class=Response, responses=_ANSWERS, openapi_extra=_FORM)
    async def submit_spam(request: Request) -> Response:
        """A moderator's "this is spam", stored as the decision spam."""
        service = get_service(request)
        return await submit(request, service, SPAM, "submit-spam")

    @router.post("/1.1/submit-ham", response_class=Response, responses=_ANSWERS, openapi_extra=_FORM)
    async def submit_ham(request: Request) -> Response:
        """A moderator's "not spam": the site keeps the comment, stored as the decision on_topic."""
        service = get_service(request)
        return await submit(request, service, ON_TOPIC, "submit-ham")

    return router
