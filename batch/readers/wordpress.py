"""WordPress exports (WXR): <item> is a post (title, content:encoded, wp:post_id) with its <wp:comment>s.

Each comment has wp:comment_id, wp:comment_parent (0 = none), wp:comment_content, author, date and approved
status; only the current post is kept in memory. Parsing rules shared with Disqus are in `batch.readers.xml_base`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from batch.readers.xml_base import XmlDump, local_name
from model.markup import html_to_text
from model.types import Article

WXR_COLUMNS: tuple[str, ...] = (
    "comment_id", "article_id", "parent_id", "text", "author", "created_at", "status", "type",
)
_WP = "{http://wordpress.org/export/"  # followed by the WXR version, e.g. 1.2/}
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"


class WxrDump(XmlDump):
    """A WordPress export: every comment of every post, with the post as its article."""

    format = "wxr"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.columns = WXR_COLUMNS

    def _rows(self, events: Any) -> Iterator[tuple[list[str | None], Article | None]]:
        depth = 0
        channel: Element | None = None
        post: dict[str, str] = {}
        article: Article | None = None
        waiting: list[list[str | None]] = []  # comments that came before their post's id (unusual order)
        for event, element in events:
            if event == "start":
                depth += 1
                self._started = True
                if element.tag == "channel":
                    channel = element
                elif element.tag == "item":
                    post, article, waiting = {}, None, []
                continue
            depth -= 1  # depth 3: children of an <item> (rss > channel > item > child)
            tag = element.tag
            name = local_name(tag) if tag.startswith(_WP) else None
            if depth == 3 and tag in ("title", _CONTENT):
                post[tag] = element.text or ""
            elif depth == 3 and name == "post_id":
                post["post_id"] = (element.text or "").strip()
            elif depth == 3 and name == "comment":
                values = self._comment(element, post.get("post_id"))
                element.clear()
                if "post_id" not in post:
                    waiting.append(values)
                    continue
                article = article or self._article(post)
                yield values, article
            elif depth == 2 and channel is not None:  # an <item> or channel metadata: done with it
                if tag == "item" and waiting:
                    article = self._article(post) if "post_id" in post else None
                    for values in waiting:
                        values[1] = post.get("post_id")
                        yield values, article
                element.clear()
                channel.remove(element)

    @staticmethod
    def _comment(element: Element, post_id: str | None) -> list[str | None]:
        fields = {local_name(child.tag): (child.text or "") for child in element if child.tag.startswith(_WP)}
        parent = fields.get("comment_parent", "").strip()
        return [
            fields.get("comment_id", "").strip() or None,
            post_id,
            parent if parent not in ("", "0") else None,
            html_to_text(fields.get("comment_content")),
            fields.get("comment_author") or None,
            fields.get("comment_date_gmt") or fields.get("comment_date") or None,
            fields.get("comment_approved") or None,
            fields.get("comment_type") or None,
        ]

    @staticmethod
    def _article(post: dict[str, str]) -> Article:
        return Article(id=post["post_id"], title=post.get("title", ""), body=html_to_text(post.get(_CONTENT)))
