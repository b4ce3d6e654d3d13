"""Parquet dumps, read a batch at a time; columns keep their types (text columns are cast when scored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from batch.readers.base import DEFAULT_CHUNK_ROWS, Chunk, ChunkBuilder, Dump
from model.errors import DataError


class ParquetDump(Dump):
    """A Parquet file, read a batch at a time; columns keep their types (text columns are cast when scored)."""

    format = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise DataError(f"cannot read Parquet ({error})", path=path.name) from None
        self.schema = self._file.schema_arrow
        self.columns = tuple(self.schema.names)
        self._check_columns(None)

    @property
    def num_rows(self) -> int:
        return int(self._file.metadata.num_rows)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        builder = ChunkBuilder(self.columns, chunk_rows, schema=self.schema)
        total = max(self.num_rows, 1)
        read = 0
        try:
            for batch in self._file.iter_batches(batch_size=chunk_rows):
                read += batch.num_rows
                yield from builder.add_table(pa.Table.from_batches([batch], schema=self.schema), read / total)
        except (OSError, pa.ArrowException) as error:
            raise DataError(f"cannot read Parquet after row {read} ({error})", path=self.name) from None
        yield from builder.finish(1.0)
