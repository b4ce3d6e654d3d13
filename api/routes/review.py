"""GET /review: the page where a moderator works through the review queue, and its sign-in.

    GET  /review                 the page; with MODERATE_API_KEY set and no valid key (cookie, X-API-Key or
                                 Bearer), the sign-in page instead (401, HTML)
    POST /review/sign-in         form field `key`: right -> the key cookie, 303 to /review; wrong -> 401 page
    POST /review/sign-out        clears the cookie, 303 to /review
    GET  /review/static/{name}   the script and the stylesheet: open, they hold no data

The middleware lets these paths through without a key (`api.middleware.PAGE_PATHS`), because a browser that
has not signed in must get a page it can sign in on, not a JSON 401; the data the page shows comes from
/queue, /feedback and /stats, which the middleware guards as always (the cookie is the key there).

The cookie is HttpOnly (no script reads the key) and SameSite=Strict (another site cannot make the browser
send it, so it cannot post decisions in the moderator's name); Secure when the page was reached over HTTPS.
Every HTML answer forbids framing, since one key press on the page is a decision.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.middleware import KEY_COOKIE, key_matches
from api.settings import Settings

router = APIRouter(tags=["review"], include_in_schema=False)  # HTML, not part of the JSON API's schema

_STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: What a cookie value carries unchanged (RFC 6265 cookie-octets, no quoting needed): see `_cookie_safe`.
_COOKIE_OCTETS = frozenset(chr(c) for c in range(0x21, 0x7F)) - set('",;\\')
_MAX_FORM_BYTES = 4096


@router.get("/review", response_class=HTMLResponse)
async def review_page(request: Request) -> Response:
    """The reviewer page, or the sign-in page when the API key is set and the request does not carry it."""
    settings = _settings(request)
    if _signed_in(request, settings):
        sign_out = "" if settings.api_key is None else _sign_out_form(_root(request))
        return _page("review.html", 200, root=_root(request), sign_out=sign_out)
    stale = request.cookies.get(KEY_COOKIE) is not None
    message = "The saved key is no longer accepted (it may have been changed). Sign in again." if stale else ""
    return _sign_in(request, 401, message)


@router.post("/review/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Form field `key`: the API key. Right: the key cookie and a redirect to the page; wrong: the form again."""
    settings = _settings(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _sign_in(request, 415, "Send the sign-in form as application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return _sign_in(request, 413, f"The sign-in form is larger than {_MAX_FORM_BYTES} bytes.")
    key = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).get("key", [""])[0]
    redirect = RedirectResponse(_root(request) + "/review", status_code=303)
    if settings.api_key is None:
        return redirect  # nothing to sign in to: the page is open
    if not key:
        return _sign_in(request, 401, "Enter the API key.")
    if not key_matches(settings, key):
        return _sign_in(request, 401, "That key is not accepted. Check it and try again.")
    if not _cookie_safe(key):
        return _sign_in(request, 422, "That key is right, but a browser cookie cannot carry it (it holds spaces, "
                                      'quotes, commas, semicolons, backslashes or non-ASCII characters). Set '
                                      "MODERATE_API_KEY to a key such as the output of `openssl rand -hex 32`.")
    redirect.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return redirect


@router.post("/review/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the key cookie; back to the page (which then asks for the key, if one is set)."""
    redirect = RedirectResponse(_root(request) + "/review", status_code=303)
    redirect.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return redirect


@router.get("/review/static/{name}")
async def static_file(name: str) -> Response:
    """The page's script and stylesheet (only these names; nothing else of the package is served)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise HTTPException(404, f"no file {name!r} here: the page's files are {', '.join(sorted(_STATIC))}")
    headers = {**_HEADERS, "Cache-Control": "no-cache"}  # revalidated, so an upgrade shows at the next load
    return Response(_file(name), media_type=media_type, headers=headers)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _signed_in(request: Request, settings: Settings) -> bool:
    """Whether the request carries the API key, as the middleware reads it: the cookie or a header."""
    if settings.api_key is None:
        return True
    offered = [request.cookies.get(KEY_COOKIE), request.headers.get("x-api-key")]
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        offered.append(authorization[7:].strip())
    found = False
    for key in offered:  # every one compared, in constant time
        found = (key is not None and key_matches(settings, key)) or found
    return found


def _cookie_safe(key: str) -> bool:
    """Whether the key goes into a cookie as it is: anything else would be quoted and escaped on the way."""
    return all(char in _COOKIE_OCTETS for char in key)


def _root(request: Request) -> str:
    """The path the app is mounted under ("" at the root), so that the page's links work behind a prefix."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _sign_in(request: Request, status: int, message: str) -> HTMLResponse:
    shown = f'<p class="notice notice-error" role="alert">{html.escape(message)}</p>' if message else ""
    return _page("sign_in.html", status, root=_root(request), message=shown)


def _sign_out_form(root: str) -> str:
    return (f'<form class="sign-out" method="post" action="{html.escape(root)}/review/sign-out">'
            '<button type="submit" class="quiet">Sign out</button></form>')


def _page(name: str, status: int, **values: str) -> HTMLResponse:
    """A template filled in: `root` is escaped here, the other values are HTML built (and escaped) above."""
    values["root"] = html.escape(values.get("root", ""))
    return HTMLResponse(Template(_file(name)).substitute(values), status_code=status, headers=_HEADERS)


@cache
def _file(name: str) -> str:
    return resources.files("api.review_page").joinpath(name).read_text(encoding="utf-8")
