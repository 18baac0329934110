"""The pure helpers of benchmarks/bench_imports.py (parsing ``-X importtime`` output); nothing is timed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_imports.py"
spec = importlib.util.spec_from_file_location("bench_imports", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

OUTPUT = """import time: self [us] | cumulative | imported package
import time:       100 |        100 | site
import time:        20 |         20 |     b.x
import time:         5 |          5 |       b.y.deep
import time:        30 |         35 |     b.y
import time:        10 |         65 |   b
import time:         7 |          7 |   c
import time:         3 |         75 | a
some other line
"""


def test_parse_importtime_reads_times_depth_and_names():
    rows = bench.parse_importtime(OUTPUT)
    assert rows[0] == (100, 100, 0, "site")
    assert rows[2] == (5, 5, 3, "b.y.deep")
    assert rows[-1] == (3, 75, 0, "a")
    assert len(rows) == 7


def test_children_are_direct_only_and_heaviest_first():
    rows = bench.parse_importtime(OUTPUT)
    assert bench.children(rows, "a") == [("b", 65), ("c", 7)]
    assert bench.children(rows, "b") == [("b.y", 35), ("b.x", 20)]
    assert bench.children(rows, "c") == []


def test_statement_time_leaves_out_interpreter_start_up():
    rows = bench.parse_importtime(OUTPUT)
    assert bench.statement_us(rows, {"site"}) == 75
    assert bench.statement_us(rows, set()) == 175
