"""The comment platforms' own protocols, spoken on the service's classify path and decisions store.

    coral        Coral Talk's external moderation phase and webhooks (signed with X-Coral-Signature)
    perspective  Perspective API's comments:analyze and comments:suggestscore (?key=)
    akismet      Akismet's verify-key, comment-check, submit-spam and submit-ham (form field api_key)
    judge        what all three share: one comment judged, spam only without its article, shadow mode, the
                 ids of comments that came without one, decisions stored
    protocol     the route class that answers refusals and failures in each protocol's shape
    fast_path    Coral's phase answered without FastAPI's per-request layers (Coral waits for it)

Their paths are let through by the middleware (`api.middleware.SELF_AUTHENTICATED`): each checks its protocol's
credential itself. docs/integrations.md says what to configure on each platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from api.integrations.akismet import akismet_router
from api.integrations.coral import CoralPhase, coral_router
from api.integrations.fast_path import CoralFastPath
from api.integrations.judge import Judge
from api.integrations.perspective import perspective_router
from api.settings import Settings

__all__ = ["CoralFastPath", "Integrations", "integrations"]


@dataclass(frozen=True)
class Integrations:
    """The three protocols' routers for one app, and the Coral phase its fast path answers with."""

    routers: list[APIRouter]
    coral_phase: CoralPhase


def integrations(settings: Settings) -> Integrations:
    judge = Judge()  # one per app: the routes share its blank article
    phase = CoralPhase(settings, judge)
    return Integrations(routers=[coral_router(phase), perspective_router(settings, judge), akismet_router(judge)],
                        coral_phase=phase)
