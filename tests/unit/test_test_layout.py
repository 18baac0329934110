"""The test tree itself: pytest imports test files without packages by their basename (rootdir import mode), so
two test files with one name in different folders break collection of the whole suite ("import file mismatch")."""

from __future__ import annotations

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]


def test_no_two_test_files_share_a_basename():
    seen = collections.defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        seen[path.name].append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
