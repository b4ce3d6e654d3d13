"""Bodies of the moderation loop's routes (/feedback, /queue, /stats), with the app's limits on their fields."""

# No `from __future__ import annotations`: pydantic resolves the classes built in `feedback_model` from its locals.

from typing import Annotated, Any

from pydantic import BaseModel, Field

from api.schemas import _STRICT, ID_RULE, id_check
from api.settings import Settings


def feedback_model(settings: Settings) -> Any:
    """The /feedback request model, with the limits /classify has (ids, texts, decisions per request)."""
    Id = Annotated[str, Field(min_length=1, max_length=settings.max_id_chars, description=ID_RULE),
                   id_check(settings.max_id_chars)]

    class Decision(BaseModel):
        """A moderator's final label for one comment; the latest decision for a comment is the one that counts."""

        model_config = _STRICT
        comment_id: Id
        label: str = Field(min_length=1, max_length=64, description="One of the served model's labels.")
        article_id: Id | None = Field(
            None, description="Required for a comment never classified, or one whose id is under several articles.")
        text: str | None = Field(
            None, min_length=1, max_length=settings.max_comment_chars,
            description="Required only for a comment the service never classified (else what /classify saw).")
        parent_id: Id | None = None
        moderator: str | None = Field(None, max_length=200, description="Who decided (kept with the decision).")

    class FeedbackRequest(BaseModel):
        """Moderators' decisions, stored all or none."""

        model_config = _STRICT
        decisions: list[Decision] = Field(min_length=1, max_length=settings.max_comments)

    return FeedbackRequest


class FeedbackResponse(BaseModel):
    stored: int


class QueueItem(BaseModel):
    """A comment the model sent to review and no moderator has decided."""

    model_config = {"protected_namespaces": ()}

    article_id: str
    article_title: str
    comment_id: str
    text: str
    parent_id: str | None
    parent_text: str | None = Field(description="The parent's text, when the service still stores it.")
    label: str
    scores: dict[str, float]
    action: str
    reasons: list[str]
    terms: list[str] = Field(description="The words the reasons name, to mark in the text.")
    classified_at: str = Field(description="ISO 8601, UTC.")
    model_version: str


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null after the last.")
    pending: int = Field(description="Comments waiting in the queue (under `article_id` when given).")


class AgreementStats(BaseModel):
    """How often moderators agreed with the model, from each comment's latest decision."""

    decisions: int
    queue: int
    actions: dict[str, dict[str, Any]]
    precision: dict[str, float | None]
    per_day: list[dict[str, Any]]
    days: int
