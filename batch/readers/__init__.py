"""Comment dumps, one reader per format behind one interface (`batch.readers.base.Dump`).

    open_dump(path)            CSV, JSON Lines, Parquet (by extension), WordPress WXR or Disqus XML (by content)
    dump.columns               the input columns, known before the first chunk
    dump.chunks(chunk_rows)    Chunks of exactly `chunk_rows` rows (the last one shorter), in input order
"""

from __future__ import annotations

from pathlib import Path

from batch.formats import DUMP_FORMATS
from batch.readers.base import Dump
from batch.readers.csv_reader import CsvDump
from batch.readers.disqus import DisqusDump
from batch.readers.jsonl_reader import JsonlDump
from batch.readers.parquet_reader import ParquetDump
from batch.readers.wordpress import WxrDump
from batch.readers.xml_base import sniff_xml
from model.errors import DataError
from model.tables import suffix_format

#: The reader of each format in `batch.formats.DUMP_FORMATS`, keyed by its own `format`.
READERS: dict[str, type[Dump]] = {
    reader.format: reader for reader in (CsvDump, JsonlDump, ParquetDump, WxrDump, DisqusDump)
}


def dump_format(path: Path) -> str:
    """csv, jsonl or parquet from the extension; for .xml, wxr or disqus from the first kilobytes."""
    kind = suffix_format(path)
    if kind is not None:
        return kind
    if path.suffix.lower() == ".xml":
        return sniff_xml(path)
    raise DataError(
        f"unsupported file type {path.suffix or '(none)'!r}; use .csv, .jsonl, .parquet, or a WordPress/Disqus "
        ".xml export (or name the format with --format)", path=path.name,
    )


def open_dump(path: str | Path, format: str | None = None) -> Dump:
    """Open a dump for chunked reading; DataError if the file is missing or unusable as a whole."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    kind = format or dump_format(path)
    reader = READERS.get(kind)
    if reader is None:
        raise DataError(f"unknown format {kind!r}; use one of {', '.join(DUMP_FORMATS)}", path=path.name)
    return reader(path)
