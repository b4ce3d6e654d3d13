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

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from batch.readers.base import DEFAULT_CHUNK_ROWS, MALFORMED_XML, Chunk, ChunkBuilder, Dump, Problem
from model.errors import DataError
from model.types import Article


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


class XmlDump(Dump):
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


def local_name(tag: str) -> str:
    """`comment_id` of `{http://wordpress.org/export/1.2/}comment_id`."""
    return tag.rsplit("}", 1)[-1]


def _reason(error: ParseError) -> str:
    return re.sub(r":\s*line \d+, column \d+$", "", str(error))
