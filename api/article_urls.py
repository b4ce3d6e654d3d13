"""One key per article address, so that the URL a platform sends finds the article stored under another spelling.

Platforms name an article by its address (Coral's `story.url`, Akismet's `permalink`, the url inside Coral's
Perspective feedback) and spell it as their page does: `HTTPS://News.example/a/?utm_source=x#comments` and
`https://news.example/a` are the same article. The key keeps what names a page and drops what does not:

    scheme and host      lower-cased; the default port dropped
    path                 as sent, without a trailing slash ("/" for none)
    query                kept (`?p=123` is a WordPress article), sorted, without tracking parameters (utm_*,
                         fbclid, gclid) and without Coral's `commentID` (its feedback links to the comment)
    fragment             dropped
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

_DROPPED_PARAMETERS = frozenset({"commentid", "fbclid", "gclid", "mc_cid", "mc_eid"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_key(url: str) -> str | None:
    """The lookup key of an article address; None when `url` is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number, a bracketed host that is not an address
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    query = sorted((name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
                   if name.lower() not in _DROPPED_PARAMETERS and not name.lower().startswith("utm_"))
    return f"{scheme}://{netloc}{path}" + (f"?{urlencode(query)}" if query else "")
