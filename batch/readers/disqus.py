"""Disqus exports: <thread dsq:id> is an article (title, link, sometimes a message); <post dsq:id> a comment.

A post has message, <thread dsq:id> and <parent dsq:id>, author, createdAt, isDeleted and isSpam. Every thread
comes before the posts and is kept (id, title, message) until the end. Parsing rules shared with WordPress are
in `batch.readers.xml_base`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from batch.readers.xml_base import XmlDump
from model.markup import html_to_text
from model.types import Article

DISQUS_COLUMNS: tuple[str, ...] = (
    "comment_id", "article_id", "parent_id", "text", "author", "created_at", "is_deleted", "is_spam",
)
_DISQUS = "{http://disqus.com}"
_DSQ_ID = "{http://disqus.com/disqus-internals}id"


class DisqusDump(XmlDump):
    """A Disqus export: every post, with its thread as its article."""

    format = "disqus"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.columns = DISQUS_COLUMNS

    def _rows(self, events: Any) -> Iterator[tuple[list[str | None], Article | None]]:
        depth = 0
        root: Element | None = None
        threads: dict[str, Article] = {}
        for event, element in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    self._started = True
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            tag = element.tag
            if tag == f"{_DISQUS}thread":
                thread_id = element.get(_DSQ_ID) or ""
                title = _child_text(element, "title") or _child_text(element, "link")
                body = html_to_text(_child_text(element, "message"))
                threads[thread_id] = Article(id=thread_id, title=title, body=body)
            elif tag == f"{_DISQUS}post":
                values = self._post(element)
                yield values, threads.get(values[1] or "")
            root.remove(element)

    @staticmethod
    def _post(element: Element) -> list[str | None]:
        thread = element.find(f"{_DISQUS}thread")
        parent = element.find(f"{_DISQUS}parent")
        author = element.find(f"{_DISQUS}author")
        name = None
        if author is not None:
            name = _child_text(author, "name") or _child_text(author, "username") or None
        return [
            element.get(_DSQ_ID) or None,
            thread.get(_DSQ_ID) if thread is not None else None,
            parent.get(_DSQ_ID) if parent is not None else None,
            html_to_text(_child_text(element, "message")),
            name,
            _child_text(element, "createdAt") or None,
            _child_text(element, "isDeleted") or None,
            _child_text(element, "isSpam") or None,
        ]


def _child_text(element: Element, name: str) -> str:
    child = element.find(f"{_DISQUS}{name}")
    return (child.text or "").strip() if child is not None else ""
