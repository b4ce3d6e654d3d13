"""Coral Talk: the external moderation phase (POST /integrations/coral) and its webhooks (.../coral/webhook).

Coral signs both with `X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]`, an HMAC-SHA256 of the raw body keyed
with the secret Coral generated (one per phase, another per webhook endpoint: MODERATE_CORAL_SECRET and
MODERATE_CORAL_WEBHOOK_SECRET). While a secret rotates Coral signs with each active one, so one matching
signature is enough; every one is compared in constant time. A missing or wrong signature is a 401 before the
body is parsed. With no secret set the routes check nothing only when the whole service is open (no
MODERATE_API_KEY), like every other route; else they refuse.

The phase (docs/docs/external-moderation-phases.md in coralproject/talk): the comment body is HTML or text (the
phase's format setting), `story.id` or `story.url` names a stored article (`PUT /articles/{id}` with `url`),
`comment.parentID` is the parent when we know that comment. The answer:

    reject    200 {"status": "REJECTED", "moderationAction": {"status": "REJECTED", "rejectionReason":
                   {"code": "SPAM" | "IRRELEVANT_CONTENT", "detailedExplanation": our reasons}}, "actions": [...]}
    review    200 {"status": "SYSTEM_WITHHELD", "actions": [...]}   (held in Coral's pending queue)
    approve   204, or 200 {"status": "APPROVED"} with MODERATE_CORAL_APPROVE
    none      204 (spam-only judging of a comment that is not spam, shadow mode)

`actions` is a FLAG with reason COMMENT_DETECTED_SPAM for spam. Coral's response schema allows only the TOXIC and
SPAM flag reasons and drops a whole answer that breaks it, so an off-topic comment carries no flag: its
rejection code, or its place in the pending queue, says enough.

Webhooks (docs/docs/webhooks.md): only COMMENT_LEFT_MODERATION_QUEUE with status APPROVED or REJECTED is a
moderator's decision. It carries commentID, storyID and status, never the text, and the phase request had no
comment id, so a decision is stored only for a comment classified under that id and that story's article
(sent to /classify with Coral's comment ids); every other event is answered 200 and counted
(moderate_integration_events), and nothing is stored (docs/integrations.md says what this means).
"""

# No `from __future__ import annotations`: FastAPI resolves the body models built in the router factory.

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.concurrency import run_in_threadpool

from api.decisions import DecisionError, NewDecision
from api.errors import error_response
from api.integrations.judge import Judge, Subject, Verdict, find_article, record
from api.integrations.protocol import ProtocolRoute
from api.routes.deps import get_service
from api.schemas import ErrorBody
from api.service import Service
from api.settings import Settings
from model.labels import OFF_TOPIC, ON_TOPIC, REJECT, REVIEW, SPAM
from model.markup import body_text

SIGNATURE_HEADER = "X-Coral-Signature"
PHASE_PATH = "/integrations/coral"
WEBHOOK_PATH = "/integrations/coral/webhook"
#: The only webhook event that is a moderator's decision, and the statuses that decide.
LEFT_QUEUE = "COMMENT_LEFT_MODERATION_QUEUE"
_KNOWN_EVENTS = frozenset({"STORY_CREATED", "COMMENT_CREATED", "COMMENT_REPLY_CREATED",
                           "COMMENT_ENTERED_MODERATION_QUEUE", LEFT_QUEUE})
_LOOSE = ConfigDict(extra="ignore")  # Coral's own JSON: more fields may come in later releases


def signature_matches(header: str | None, body: bytes, secret: str) -> bool:
    """Whether one of the `sha256=` signatures in the header is the body's HMAC-SHA256 under `secret`."""
    if not header:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
    found = False
    for element in header.split(","):
        prefix, _, value = element.strip().partition("=")
        if prefix == "sha256":
            found = hmac.compare_digest(value.strip().lower().encode("ascii", "replace"), expected) or found
    return found


def _refusal(signature: str | None, body: bytes, secret: SecretStr | None, settings: Settings,
             name: str) -> Response | None:
    """The 401 for a request whose signature does not match (or cannot be checked), else None."""
    if secret is None or not secret.get_secret_value():
        if settings.api_key is None:
            return None  # an open service: like every route, this one is open too
        return error_response(401, f"the Coral integration is not configured: set {name} to the signing secret "
                                   "Coral shows for it", field=SIGNATURE_HEADER)
    if not signature_matches(signature, body, secret.get_secret_value()):
        return error_response(401, f"missing or wrong {SIGNATURE_HEADER}: it must hold sha256=<HMAC-SHA256 of the "
                                   f"body> under the secret in {name}", field=SIGNATURE_HEADER)
    return None


class _CoralRoute(ProtocolRoute):
    """Coral has no error format of its own (it logs any non-2xx and goes on): errors are the service's."""

    async def refuse(self, request: Request, settings: Settings) -> Response | None:
        body = await request.body()
        if self.path == WEBHOOK_PATH:
            return _refusal(request.headers.get(SIGNATURE_HEADER), body, settings.coral_webhook_secret, settings,
                            "MODERATE_CORAL_WEBHOOK_SECRET")
        return CoralPhase.refusal(request.headers.get(SIGNATURE_HEADER), body, settings)

    def invalid(self, status: int, field: str, message: str) -> Response:
        return error_response(status, message, field=field)

    def unavailable(self, message: str) -> Response:
        return error_response(503, message, headers={"Retry-After": "5"})


# -- the phase ---------------------------------------------------------------------------------------------------
def _phase_request(settings: Settings) -> Any:
    class CoralComment(BaseModel):
        model_config = _LOOSE
        body: str = Field(min_length=1, max_length=settings.max_comment_chars)
        parentID: str | None = Field(None, max_length=settings.max_id_chars)

    class CoralStory(BaseModel):
        model_config = _LOOSE
        id: str | None = Field(None, max_length=settings.max_id_chars)
        url: str | None = Field(None, max_length=2048)

    class ExternalModerationRequest(BaseModel):
        """What Coral's external moderation phase sends for a new or edited comment."""

        model_config = _LOOSE
        action: str | None = Field(None, max_length=16, description="NEW or EDIT.")
        comment: CoralComment
        story: CoralStory

    return ExternalModerationRequest


class RejectionReason(BaseModel):
    code: str
    detailedExplanation: str | None = None


class ModerationAction(BaseModel):
    status: str
    rejectionReason: RejectionReason | None = None


class CommentAction(BaseModel):
    actionType: str
    reason: str


class ExternalModerationResponse(BaseModel):
    """Coral's response schema: `status` ends its pipeline."""

    status: str
    actions: list[CommentAction] | None = None
    moderationAction: ModerationAction | None = None


def phase_answer(verdict: Verdict, opinion: str | None, *, approve: bool) -> Response:
    """Coral's answer for our opinion of a comment (see the module docstring)."""
    flags = [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}] if verdict.label == SPAM else None
    if opinion == REJECT:
        code = "SPAM" if verdict.label == SPAM else "IRRELEVANT_CONTENT"
        explanation = "; ".join(verdict.reasons) or f"classified {verdict.label}"
        answer: dict[str, Any] = {"status": "REJECTED", "moderationAction": {
            "status": "REJECTED", "rejectionReason": {"code": code, "detailedExplanation": explanation}}}
    elif opinion == REVIEW:
        answer = {"status": "SYSTEM_WITHHELD"}
    elif opinion is not None and approve:
        return JSONResponse({"status": "APPROVED"})
    else:
        return Response(status_code=204)
    if flags and opinion in (REJECT, REVIEW):
        answer["actions"] = flags
    return JSONResponse(answer)


# -- webhooks ----------------------------------------------------------------------------------------------------
class WebhookData(BaseModel):
    model_config = _LOOSE
    commentID: str | None = Field(default=None, max_length=1000)
    storyID: str | None = Field(default=None, max_length=1000)
    status: str | None = Field(default=None, max_length=64)
    queue: str | None = Field(default=None, max_length=64)


class WebhookEvent(BaseModel):
    """One Coral webhook delivery: `data` depends on `type`."""

    model_config = _LOOSE
    id: str | None = Field(default=None, max_length=1000)
    type: str = Field(min_length=1, max_length=100)
    data: WebhookData = Field(default_factory=lambda: WebhookData())


class WebhookReceipt(BaseModel):
    received: bool
    outcome: str = Field(description="'decision stored', 'unmatched' or 'not a decision'.")


async def _webhook_decision(service: Service, event: WebhookEvent) -> str:
    data = event.data
    if event.type != LEFT_QUEUE or data.status not in ("APPROVED", "REJECTED"):
        return "not a decision"
    if not data.commentID or not data.storyID:
        return "unmatched"
    article_id = find_article(service, article_id=data.storyID)
    if article_id is None:
        return "unmatched"
    said = await run_in_threadpool(service.store.classified_label, article_id, data.commentID)
    if said is None:
        return "unmatched"
    # A rejection in Coral does not say why; our label for it, when the model did not call it acceptable.
    label = ON_TOPIC if data.status == "APPROVED" else said if said in (SPAM, OFF_TOPIC) else None
    if label is None:
        return "unmatched"
    try:
        await record(service, [NewDecision(comment_id=data.commentID, label=label, article_id=article_id,
                                           source="coral")])
    except DecisionError:
        return "unmatched"
    return "decision stored"


# -- the router ---------------------------------------------------------------------------------------------------
class CoralPhase:
    """The phase's work, shared by its route and by `api.integrations.fast_path` (which skips FastAPI's layers)."""

    def __init__(self, settings: Settings, judge: Judge) -> None:
        self.request_model = _phase_request(settings)
        self.judge = judge

    @staticmethod
    def refusal(signature: str | None, body: bytes, settings: Settings) -> Response | None:
        return _refusal(signature, body, settings.coral_secret, settings, "MODERATE_CORAL_SECRET")

    async def answer(self, service: Service, body: Any) -> Response:
        """Coral's answer to a validated request (`request_model`)."""
        story = body.story
        article_id = find_article(service, article_id=story.id, url=story.url)
        subject = Subject(text=body_text(body.comment.body), article_id=article_id, parent_id=body.comment.parentID)
        verdict = await self.judge(service, subject)
        opinion = verdict.opinion(shadow=service.settings.shadow)
        service.metrics.integration_events.labels("coral", "moderation", opinion or "no opinion").inc()
        return phase_answer(verdict, opinion, approve=service.settings.coral_approve)


def coral_router(phase: CoralPhase) -> APIRouter:
    router = APIRouter(tags=["integrations: Coral"], route_class=_CoralRoute)
    phase_request = phase.request_model
    refused: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "The body is not JSON."},
        401: {"model": ErrorBody, "description": f"Missing or wrong {SIGNATURE_HEADER}."},
        422: {"model": ErrorBody, "description": "A field is missing or breaks a limit."},
        503: {"model": ErrorBody, "description": "No model is loaded, or the database is unavailable."},
    }
    # Documented so that clients (and the schema fuzz) see it; the route class checks it before the body is read.
    signed = {"parameters": [{"name": SIGNATURE_HEADER, "in": "header", "required": True,
                              "schema": {"type": "string"}, "description": "sha256=<hex>[,sha256=<hex>...]"}]}

    @router.post(PHASE_PATH, response_model=ExternalModerationResponse, openapi_extra=signed, responses={
        **refused, 204: {"description": "No opinion: Coral goes on as if we had not answered."}})
    async def coral_phase(body: phase_request, request: Request) -> Response:  # type: ignore[valid-type]
        """Coral's external moderation phase: our decision for a new or edited comment, signed by Coral.

        A signed request that validates is answered by the fast path (`api.integrations.fast_path`) with the same
        `CoralPhase.answer`; this route answers the rest (refusals, bad bodies) and documents the operation.
        """
        return await phase.answer(request.app.state.service, body)

    @router.post(WEBHOOK_PATH, response_model=WebhookReceipt, openapi_extra=signed, responses=refused)
    async def coral_webhook(event: WebhookEvent, request: Request) -> WebhookReceipt:
        """Coral's webhooks: a moderator's approve or reject becomes a decision when it can be matched."""
        service = get_service(request)
        outcome = await _webhook_decision(service, event)
        kind = event.type if event.type in _KNOWN_EVENTS else "other"
        service.metrics.integration_events.labels("coral", kind, outcome).inc()
        return WebhookReceipt(received=True, outcome=outcome)

    return router
