"""Comment and article bodies that arrive as HTML: their readable text, for every path that reads them.

Dumps (WordPress, Disqus) and platforms (Coral's moderation phase, Akismet clients) send HTML; the model reads
text. Tags are removed, entities decoded and a link's address kept beside its words, because spam hides there.
"""

from __future__ import annotations

import html
import re

_LINK = re.compile(r"""<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>""", re.I | re.S)
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/blockquote|/h[1-6])\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
# An opening or closing tag with a name, or an entity: what plain text ("3 < 5 and 7 > 6") does not have.
_MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|&(?:[a-zA-Z]{2,8}|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def html_to_text(markup: str | None) -> str:
    """Readable text of an HTML fragment: link addresses kept in brackets, line breaks kept, entities decoded."""
    if not markup:
        return ""

    def link(match: re.Match[str]) -> str:
        address = next((g for g in match.groups()[:3] if g), "")
        words = match.group(4)
        return f"{words} ({address})" if address and address not in words else words

    text = _LINK.sub(link, markup)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    return html.unescape(text).strip()


def body_text(body: str) -> str:
    """The text of a body that may be HTML or plain text (Coral sends either, by a setting of the platform).

    Plain text is returned as sent: stripping "tags" from it would eat "3 < 5 and 7 > 6".
    """
    return html_to_text(body) if _MARKUP.search(body) else body.strip()
