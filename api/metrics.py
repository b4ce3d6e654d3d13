"""Prometheus metrics of one app: requests, latencies, labels and actions served, batches, model reloads.

Each app has its own registry (never the process-global one), so two apps in one test session do not share
counters. With several worker processes each worker counts its own requests; scrape each worker, or run one
worker per container.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from model.labels import ON_TOPIC
from model.types import Classification

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """The instruments, registered in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "moderate_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "moderate_http_request_duration_seconds", "Time from request start to the end of the answer.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.comments = Counter(
            "moderate_comments_classified", "Comments classified, by label and action served.",
            ["label", "action"], registry=self.registry,
        )
        self.decisions = Counter(
            "moderate_decisions", "Moderators' decisions stored, by source (feedback, coral, ...) and label.",
            ["source", "label"], registry=self.registry,
        )
        self.overturned = Counter(
            "moderate_decisions_overturned",
            "Decisions that overturned the model: an approve labeled other than on_topic, a reject labeled on_topic.",
            ["action"], registry=self.registry,
        )
        self.integration_events = Counter(
            "moderate_integration_events",
            "What the integrations received and did with it, by platform, event and outcome (e.g. coral "
            "COMMENT_LEFT_MODERATION_QUEUE unmatched).",
            ["platform", "event", "outcome"], registry=self.registry,
        )
        self.batch_comments = Histogram(
            "moderate_batch_comments", "Comments per model call (concurrent requests are batched).",
            buckets=_BATCH_BUCKETS, registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "moderate_batch_seconds", "Time of one model call.", buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.model_info = Gauge(
            "moderate_model_info", "1 for the model version being served.", ["version"], registry=self.registry,
        )
        self.reloads = Counter(
            "moderate_model_reloads", "Model reloads, by outcome.", ["outcome"], registry=self.registry,
        )

    def served(self, results: list[Classification]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for result in results:
            key = (result.label, result.action)
            counts[key] = counts.get(key, 0) + 1
        for (label, action), count in counts.items():
            self.comments.labels(label, action).inc(count)

    def decided(self, source: str, label: str, model_action: str | None) -> None:
        self.decisions.labels(source, label).inc()
        if (model_action == "approve" and label != ON_TOPIC) or (model_action == "reject" and label == ON_TOPIC):
            self.overturned.labels(model_action).inc()

    def model_loaded(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
