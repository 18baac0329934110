"""Tests of the real control plane itself (sandbox/kube). They run in `hack/test.sh kube`, with
MLOPS_CONTROL_PLANE=kube and, as root, inside a private network namespace that has only loopback."""

from __future__ import annotations

import os

import pytest

from sandbox.kube import controlplane
from sandbox.pytest_plugin import running_sandbox


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MLOPS_CONTROL_PLANE") == "kube" and controlplane.built():
        return
    why = ("the real control plane's tests run in `hack/test.sh kube` (MLOPS_CONTROL_PLANE=kube, binaries built by "
           "hack/kube/build.sh, a private network namespace)")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def kube(tmp_path_factory):
    with running_sandbox(tmp_path_factory, "kube", control_plane="kube") as handle:
        yield handle
