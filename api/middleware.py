"""The API-key check, the body-size limit and request metrics, as one plain ASGI middleware.

Who may call what (`Access`, from the settings):

    /health, /ready   open with MODERATE_OPEN_PROBES=true (load-balancer probes send no key), else as below
    /admin/*          the admin key when MODERATE_ADMIN_KEY is set: 401 without it, 403 for the API key alone
    protocol routes   /integrations/coral*, /1.1/*, /v1alpha1/*: let through; each checks its own credential
                      (Coral's signature, Akismet's api_key field, Perspective's ?key=) and answers a refusal
                      in its protocol's own shape, which a 401 of ours would not be
    reviewer page     GET /review, its sign-in and sign-out, its script and stylesheet: let through, so that a
                      browser without the key gets the sign-in page (api/routes/review.py checks the key)
    everything else   the API key when MODERATE_API_KEY is set (X-API-Key, Authorization: Bearer, or the
                      reviewer page's cookie), else open

The body limit is checked before anything parses the body: a Content-Length over the limit is answered 413
at once, and a body without one (chunked) is counted as it arrives and cut off as soon as it passes the limit.

Plain ASGI rather than `BaseHTTPMiddleware`, which wraps every request in extra tasks and streams and costs
more than a single-comment classification's share of a batch.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLargeError, error_response
from api.metrics import Metrics
from api.settings import Settings

_PROBES = frozenset({"/health", "/ready"})
#: Paths whose protocol carries its own credential; their routes check it (see the module docstring).
SELF_AUTHENTICATED = ("/integrations/coral", "/1.1/", "/v1alpha1/")
#: The reviewer page's own paths: the route shows the sign-in page without the key; the static files hold no data.
PAGE_PATHS = frozenset({"/review", "/review/sign-in", "/review/sign-out"})
_PAGE_STATIC = "/review/static/"
#: The cookie the reviewer page's sign-in sets (HttpOnly, SameSite=Strict): the API key, for a browser.
KEY_COOKIE = "moderator_key"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="moderator"'}


@dataclass(frozen=True, eq=False)  # no generated `==` over the keys, and no keys in its repr
class Access:
    """The keys each path needs; no key set means open. Keys are compared in constant time, never with `==`."""

    api_key: bytes | None = field(default=None, repr=False)
    admin_key: bytes | None = field(default=None, repr=False)
    open_probes: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(api_key=_secret(settings.api_key), admin_key=_secret(settings.admin_key),
                   open_probes=settings.open_probes)

    @property
    def keyless(self) -> bool:
        """No key is set: every request may go on, and nothing needs looking at."""
        return self.api_key is None and self.admin_key is None

    def refusal(self, path: str, presented: list[bytes]) -> tuple[int, str] | None:
        """(status, message) when a request for `path` with these keys is refused; None when it may go on."""
        if self.open_probes and path in _PROBES:
            return None
        if path.startswith(SELF_AUTHENTICATED) or path in PAGE_PATHS or path.startswith(_PAGE_STATIC):
            return None
        if self.admin_key is not None and (path == "/admin" or path.startswith("/admin/")):
            if _matches(presented, self.admin_key):
                return None
            if self.api_key is not None and _matches(presented, self.api_key):
                return 403, "the API key cannot use /admin/*: send the admin key (MODERATE_ADMIN_KEY) instead"
            return 401, ("missing or wrong admin key: send MODERATE_ADMIN_KEY in the X-API-Key header "
                         "(or Authorization: Bearer)")
        if self.api_key is not None and not _matches(presented, self.api_key):
            return 401, "missing or wrong API key: send it in the X-API-Key header (or Authorization: Bearer)"
        return None


class ServiceMiddleware:
    """Refuses requests without the key their path needs (see `Access`); counts and times every request.

    `access` defaults to the rules of the settings the app was built with (`app.state.settings`, which
    `create_app` sets), read at the first request, or to `api_key` alone for an app without settings.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, api_key: str | None = None,
                 access: Access | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._api_key = api_key.encode("utf-8") if api_key else None
        self._rules = access
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            access = self._access(scope)
            refused = None if access.keyless else access.refusal(_route_path(scope), _presented_keys(scope))
            if refused is not None:
                status_code, detail = refused
                response = error_response(status_code, detail, headers=_CHALLENGE if status_code == 401 else None)
                await response(scope, receive, send_and_note)
            elif _content_length(scope) > self.max_body_bytes:
                error = BodyTooLargeError(self.max_body_bytes)
                await error_response(413, str(error.detail), field="body")(scope, receive, send_and_note)
            else:
                await self.app(scope, self._limited(receive), send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._instruments(scope.get("method", ""), template, status)
            counter.inc()
            histogram.observe(time.perf_counter() - start)

    def _instruments(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        """The counter and histogram children of a label set, looked up once (`labels()` costs microseconds
        on every request otherwise). Route templates and statuses are few, so the cache stays small."""
        key = (method, template, status)
        found = self._children.get(key)
        if found is None:
            found = (self.metrics.requests.labels(method, template, str(status)),
                     self.metrics.latency.labels(method, template))
            self._children[key] = found
        return found

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return receive_within_limit

    def _access(self, scope: Scope) -> Access:
        if self._rules is None:
            settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
            self._rules = Access.from_settings(settings) if isinstance(settings, Settings) \
                else Access(api_key=self._api_key)
        return self._rules


def _secret(value: SecretStr | None) -> bytes | None:
    """An unset or empty key is no key."""
    text = value.get_secret_value() if value is not None else ""
    return text.encode("utf-8") if text else None


def _presented_keys(scope: Scope) -> list[bytes]:
    """The keys a request sends: X-API-Key headers, Authorization: Bearer tokens and the page's cookie."""
    keys = []
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            keys.append(value)
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            keys.append(value[7:].strip())
        elif name == b"cookie":
            keys.extend(_cookie_values(value, KEY_COOKIE.encode()))
    return keys


def _cookie_values(header: bytes, name: bytes) -> list[bytes]:
    """The values of cookie `name` in one Cookie header (the key is URL-safe text, stored unquoted)."""
    found = []
    for part in header.split(b";"):
        key, sep, value = part.strip().partition(b"=")
        if sep and key == name:
            found.append(value.strip().strip(b'"'))
    return found


def key_matches(settings: Settings, offered: str | None) -> bool:
    """Whether `offered` is the API key (True when none is configured): for routes that read their protocol's
    own credential field (`SELF_AUTHENTICATED`). Compared in constant time."""
    key = _secret(settings.api_key)
    if key is None:
        return True
    return offered is not None and hmac.compare_digest(offered.encode("utf-8"), key)


def _matches(presented: list[bytes], key: bytes) -> bool:
    """Whether one of the presented keys is `key`; every one is compared in constant time."""
    found = False
    for offered in presented:
        found = hmac.compare_digest(offered, key) or found
    return found


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path the app is mounted under (as Starlette does)."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("/", ""):
        return path[len(root):]
    return path


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # uvicorn rejects a malformed Content-Length before we see it
    return 0
