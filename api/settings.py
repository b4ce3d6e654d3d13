"""Serving configuration: the one place that reads the environment (variables prefixed `MODERATE_`).

    MODERATE_MODEL_PATH           bundle folder written by `moderate train --out` (model/artifacts/default)
    MODERATE_DATABASE_PATH        SQLite file for stored articles and known comments (var/moderator.sqlite3)
    MODERATE_API_KEY              when set, every request must send it (X-API-Key or Authorization: Bearer)
    MODERATE_OPEN_PROBES          true: /health and /ready answer without the key (load-balancer probes)
    MODERATE_ADMIN_KEY            when set, /admin/* needs this key instead (the API key no longer reloads)
    MODERATE_MAX_COMMENTS         comments per request (256)
    MODERATE_MAX_COMMENT_CHARS    characters per comment text (20,000)
    MODERATE_MAX_BODY_BYTES       request body size, checked before the body is parsed (8 MiB)
    MODERATE_RETENTION_DAYS       stored comments older than this are pruned (90; 0 keeps them until deleted)
    MODERATE_MAX_COMMENTS_PER_ARTICLE  stored comments kept per article, the oldest pruned first (10,000)
    MODERATE_STORE_INLINE_ARTICLES     true: an article sent inline to /classify is stored (false)
    MODERATE_SHADOW               true: the integrations answer "no opinion" and store what they would have decided
    MODERATE_CORAL_SECRET, MODERATE_CORAL_WEBHOOK_SECRET   Coral's signing secrets (docs/integrations.md)
    ...and the other fields below, each under its upper-cased name.

Tests build `Settings(...)` directly and hand it to `create_app`; `get_settings()` is cached so the server
reads the environment once.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told from outside; limits are per request."""

    model_config = SettingsConfigDict(env_prefix="MODERATE_", extra="ignore")

    model_path: Path = Field(default=Path("model/artifacts/default"), description="Bundle folder to serve.")
    database_path: Path = Field(
        default=Path("var/moderator.sqlite3"), description="SQLite file for articles and known comments."
    )
    api_key: SecretStr | None = Field(default=None, description="Required on every request when set.")
    # Probes cannot send a key; what they learn is whether the process is up and which model version it serves.
    open_probes: bool = Field(
        default=False, description="/health and /ready answer without the API key (for load-balancer probes)."
    )
    admin_key: SecretStr | None = Field(
        default=None, description="When set, /admin/* needs this key, and the API key alone is refused there (403).",
    )

    max_comments: int = Field(default=256, ge=1, le=100_000, description="Comments per /classify request.")
    max_comment_chars: int = Field(default=20_000, ge=1, le=1_000_000, description="Characters per comment text.")
    max_title_chars: int = Field(default=1_000, ge=1, description="Characters per article title.")
    max_article_chars: int = Field(default=200_000, ge=1, description="Characters per article body.")
    max_id_chars: int = Field(default=200, ge=1, le=10_000, description="Characters per article or comment id.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Request body size in bytes.")

    # A busy article's context holds up to 5,000 comment vectors (a few MB), hence a modest default.
    context_cache_size: int = Field(default=256, ge=1, description="Articles whose vectors and thread stay in memory.")
    batch_max_comments: int = Field(
        default=512, ge=1, description="Most comments the micro-batcher puts into one model call."
    )
    reload_poll_seconds: float = Field(
        default=2.0, ge=0.0, description="Seconds between checks whether another worker reloaded the model (0: never)."
    )
    docs: bool = Field(default=True, description="Serve OpenAPI docs at /docs.")

    # Storage is bounded: by age, by a cap per article, and by not keeping inline articles unless asked.
    retention_days: float = Field(
        default=90.0, ge=0.0, description="Stored comments older than this many days are pruned (0: never).",
    )
    max_comments_per_article: int = Field(
        default=10_000, ge=1,
        description="Stored comments kept per article; past it the oldest are pruned, down to nine tenths of it.",
    )
    retention_check_seconds: float = Field(
        default=600.0, ge=0.0, description="Seconds between two passes that prune old comments (0: never).",
    )
    store_inline_articles: bool = Field(
        default=False,
        description="Store an article sent inline to /classify, so later requests may send its id alone "
                    "(else only PUT /articles/{id} stores one; its comments are remembered either way).",
    )
    # Several worker processes: a reply may reach another worker than its parent, which must find the parent in
    # the database. `moderate serve --workers N` (N > 1) sets it; one process keeps the faster behind-the-answer
    # write (its own memory already holds what it just classified).
    commit_before_answer: bool = Field(
        default=False,
        description="Answer /classify once the comments it remembers are committed (for several processes).",
    )
    # Other processes write the same database: every request checks its article's version there (one indexed
    # read) and reads what others stored. One process alone is the only writer, so its memory is the truth and
    # those reads would only find its own writes (they cost a third of its throughput). `--workers N` sets it.
    shared_database: bool = Field(
        default=False,
        description="Other processes write the same database: keep cached contexts in step with it per request.",
    )
    # uvicorn's default of 5 s races with busy clients and proxies that reuse a connection just as the server
    # closes it (the request is lost with a connection error): the soak test saw it under CPU starvation.
    # Keep idle connections longer than the proxies and clients in front of us do (nginx 75 s, ALB 60 s).
    # A site can compare our decisions with its moderators' (GET /stats) before it lets us act on its comments.
    shadow: bool = Field(
        default=False,
        description="Integrations (Coral, Perspective, Akismet) answer 'no opinion' but store what they would "
                    "have decided.",
    )
    keep_alive_seconds: int = Field(default=90, ge=1, description="Seconds an idle keep-alive connection stays open.")
    # Coral generates one signing secret per moderation phase and another per webhook endpoint (docs/integrations.md).
    coral_secret: SecretStr | None = Field(
        default=None, description="The signing secret of Coral's external moderation phase (POST /integrations/coral).",
    )
    coral_webhook_secret: SecretStr | None = Field(
        default=None, description="The signing secret of Coral's webhook endpoint (POST /integrations/coral/webhook).",
    )
    coral_approve: bool = Field(
        default=False, description="Answer Coral APPROVED for what we would approve (else 204: no opinion).",
    )

    @model_validator(mode="after")
    def _keys_differ(self) -> Settings:
        """A separate admin key is only separate if it is another key."""
        if self.api_key is not None and self.admin_key is not None and self.admin_key.get_secret_value() and (
            hmac.compare_digest(self.admin_key.get_secret_value().encode(), self.api_key.get_secret_value().encode())
        ):
            raise ValueError("MODERATE_ADMIN_KEY must differ from MODERATE_API_KEY (or be left unset)")
        return self


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, read once per process."""
    return Settings()
