"""Scoring comment dumps: readers, the chunk scorer, the job and its workers, the output spool, Dask."""
