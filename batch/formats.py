"""The names of the formats batch scoring reads and writes, in a module that imports nothing.

The command line offers them as choices before it imports any reader (those pull in Arrow); the readers and
writers are keyed by the same names, and a test checks that the two agree.
"""

#: Formats a dump can be read from; XML files are told apart by their content.
DUMP_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet", "wxr", "disqus")
#: Formats scored rows can be written as.
OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
#: Input formats the Dask engine can split into partitions.
DASK_FORMATS: tuple[str, ...] = ("csv", "parquet")
