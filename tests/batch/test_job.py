"""The job's memory of recent comments: the newest comment of an id wins, the oldest are forgotten."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from batch.job import ParentMemory


def test_parent_memory_prefers_the_newest_comment_and_forgets_the_oldest() -> None:
    memory = ParentMemory(4)
    ids = pa.array(["a", "a"])
    memory.add(ids, pa.array(["1", "2"]), pa.array(["old one", "old two"]))
    memory.add(ids, pa.array(["1", "1"]), pa.array(["new one", "newer one"]))
    keys = pc.binary_join_element_wise(ids, pa.array(["1", "2"]), "\x1f")
    everything = pa.array([True, True])
    assert memory.texts_of(keys, everything).to_pylist() == ["new one", "old two"]
    memory.add(ids, pa.array(["3", "4"]), pa.array(["three", "four"]))  # 6 rows: the first chunk goes
    assert memory.texts_of(keys, everything).to_pylist() == ["new one", None]
    assert memory.texts_of(keys, pa.array([False, True])).to_pylist() == [None, None]
