"""The sandbox registry's catalogue (sandbox/registry.py) and what simulated commands do (simulated.py)."""

from __future__ import annotations

import pytest

from sandbox.controllers.simulated import Behaviour, command_behaviour
from sandbox.registry import Catalogue, pull_error


@pytest.mark.parametrize(("ref", "held"), [
    ("nginx:1.25", True), ("nginx", True), ("docker.io/library/python:3.11-slim", True), ("busybox", True),
    ("docker.io/seldonio/mlserver:1.3.5-sklearn", True), ("quay.io/argoproj/argoexec:v3.5.12", True),
    ("mirror.example.com:5000/ml-platform/seldonio/sklearnserver:1.18.2", True),
    ("nvcr.io/nvidia/tritonserver:21.08-py3", True), ("quay.io/minio/minio:RELEASE.2024-05-10T01-41-38Z", True),
    ("ghcr.io/mlops-k8s/iris-train:0.1.0", True), ("registry.k8s.io/pause:3.9", True),
    ("nginx:0.0.1", False), ("x:1", False), ("acme/seldonio:1", False), ("nginx@sha256:" + "a" * 64, False),
    ("Not A Ref", False),
])
def test_catalogue(tmp_path, ref, held):
    assert Catalogue(str(tmp_path)).holds(ref) is held


def test_user_images_by_tag_any_tag_and_digest(tmp_path):
    f = tmp_path / "images.txt"
    digest = "sha256:" + "b" * 64
    f.write_text(f"# mine\nacme/app:1\nacme/tool:*   # every tag\nacme/pinned@{digest}\n")
    refs = Catalogue.user_refs("other/one:2, other/two", str(f))
    c = Catalogue(str(tmp_path))
    assert [c.holds(r, refs) for r in ("acme/app:1", "acme/app:2", "acme/tool:9", f"acme/pinned@{digest}",
                                       "acme/pinned", "other/one:2", "other/two", "other/two:1")] == [
        True, False, True, True, False, True, True, False]


def test_pull_error_is_containerds():
    assert pull_error("nginx:9") == (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:9": failed to '
        'resolve reference "docker.io/library/nginx:9": docker.io/library/nginx:9: not found')


@pytest.mark.parametrize(("argv", "expected"), [
    (["/bin/false"], Behaviour(0, 1)), (["true"], Behaviour(0, 0)), (["sleep", "3"], Behaviour(3, 0)),
    (["sleep", "infinity"], Behaviour(None)), (["sh", "-c", "exit 3"], Behaviour(0, 3)),
    (["/bin/sh", "-ec", "echo hi; sleep 2 && exit 4"], Behaviour(2, 4)), (["bash", "-c", "sleep 1; false"],
                                                                          Behaviour(1, 1)),
    (["python", "serve.py"], None), (["sh", "-c", "python train.py"], None), ([], None),
])
def test_commands(argv, expected):
    assert command_behaviour(argv) == expected
