"""WordPress (WXR) and Disqus XML exports, read as comment dumps that carry their own articles.

    WXR      <item> is a post: title, content:encoded (its body), wp:post_id, and its <wp:comment>s with
             wp:comment_id, wp:comment_parent (0 = none), wp:comment_content, author, date, approved status
    Disqus   <thread dsq:id> is an article: title, link, sometimes a message; <post dsq:id> is a comment with
             message, <thread dsq:id> and <parent dsq:id>, author, createdAt, isDeleted, isSpam

Both are parsed with defusedxml (no entity expansion, no external entities or DTD fetching: an export that
declares entities is refused as a whole) and incrementally (`iterparse`, each element dropped once read), so
memory does not grow with the number of comments. It does grow with the number of Disqus threads, which all
come before the posts and are kept (id, title and message each) until the end; WXR keeps only the current post.

Comment and article bodies are HTML; they are scored as text (tags removed, entities decoded, a link's address
kept beside its words because spam hides there). The `text` column holds that text.
A file that stops being well-formed XML part-way gives one error row at that point and nothing after it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from model.dumps import DEFAULT_CHUNK_ROWS, MALFORMED_XML, Chunk, ChunkBuilder, Dump, Problem
from model.errors import DataError
from model.types import Article

WXR_COLUMNS: tuple[str, ...] = (
    "comment_id", "article_id", "parent_id", "text", "author", "created_at", "status", "type",
)
DISQUS_COLUMNS: tuple[str, ...] = (
    "comment_id", "article_id", "parent_id", "text", "author", "created_at", "is_deleted", "is_spam",
)

_WP = "{http://wordpress.org/export/"  # followed by the WXR version, e.g. 1.2/}
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DISQUS = "{http://disqus.com}"
_DSQ_ID = "{http://disqus.com/disqus-internals}id"

_LINK = re.compile(r"""<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>""", re.I | re.S)
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/blockquote|/h[1-6])\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def sniff_xml(path: Path) -> str:
    """wxr or disqus, from the namespaces in the first 64 KiB of the file."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if b"wordpress.org/export/" in head:
        return "wxr"
    if b"disqus.com" in head:
        return "disqus"
    raise DataError(
        "an .xml file that is neither a WordPress export (WXR) nor a Disqus export; name the format with --format "
        "if it is one", path=path.name,
    )


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


class _XmlDump(Dump):
    """Shared driving of iterparse: errors become a final error row, refused constructs a DataError."""

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        builder = ChunkBuilder(self.columns, chunk_rows)
        size = max(self.path.stat().st_size, 1)
        self._started = False
        with self.path.open("rb") as handle:
            events = iterparse(handle, events=("start", "end"))
            try:
                for values, article in self._rows(events):
                    yield from builder.add_row(values, None, handle.tell() / size, article)
            except ParseError as error:
                line, column = getattr(error, "position", (0, 0))
                if not self._started:
                    raise DataError(f"not well-formed XML ({error})", path=self.name) from None
                problem = Problem(
                    MALFORMED_XML,
                    f"line {line}, column {column}: malformed XML ({_reason(error)}); nothing after it could be read",
                )
                yield from builder.add_row([None] * len(self.columns), problem, 1.0)
            except DefusedXmlException as error:
                raise DataError(
                    f"refused: the file declares XML entities or external references ({type(error).__name__}); "
                    "exports do not need them and they can expand without bound", path=self.name,
                ) from None
        yield from builder.finish(1.0)

    def _rows(self, events: Any) -> Iterator[tuple[list[str | None], Article | None]]:
        raise NotImplementedError


class WxrDump(_XmlDump):
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
            name = _local(tag) if tag.startswith(_WP) else None
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
        fields = {_local(child.tag): (child.text or "") for child in element if child.tag.startswith(_WP)}
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


class DisqusDump(_XmlDump):
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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _reason(error: ParseError) -> str:
    return re.sub(r":\s*line \d+, column \d+$", "", str(error))
