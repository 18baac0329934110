"""Make ``ansible_collections.mlops.k8s`` importable from the work tree, without copying it.

The repository root is the collection root. If it already lives at .../ansible_collections/mlops/k8s that
parent is used; otherwise a symlink ``.cache/unit-collections/ansible_collections/mlops/k8s -> <repo>`` is made
(``.cache`` is git-ignored) and its base put on sys.path.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.dirname(os.path.abspath(__file__))


def _collections_base():
    parts = REPO.split(os.sep)
    if len(parts) >= 3 and parts[-3:-1] == ["ansible_collections", "mlops"] and parts[-1] == "k8s":
        return os.sep.join(parts[:-3])
    base = os.path.join(REPO, ".cache", "unit-collections")
    link = os.path.join(base, "ansible_collections", "mlops", "k8s")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(REPO):
        try:
            if os.path.islink(link):
                os.unlink(link)
            os.symlink(REPO, link)
        except FileExistsError:  # another xdist worker made it first
            pass
    return base


BASE = _collections_base()
if BASE not in sys.path:
    sys.path.insert(0, BASE)
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)


@pytest.fixture(autouse=True)
def _isolated_k8s_env(monkeypatch, tmp_path):
    """No test sees the developer's kubeconfig, K8S_AUTH_* variables or discovery cache."""
    for key in list(os.environ):
        if key.startswith("K8S_AUTH_") or key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_K8S_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


@pytest.fixture
def fake_cluster(monkeypatch, tmp_path):
    """A FakeCluster that every module's K8sAnsibleModule.client talks to."""
    from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod
    from k8s_fake import FakeCluster, make_client

    cluster = FakeCluster()
    cluster.built_with = []

    def build_client(params=None, environ=None, discovery_cache=True, pool_maxsize=None):
        cluster.built_with.append(params)
        cluster.pool_maxsize = pool_maxsize
        return make_client(cluster, cache_file=str(tmp_path / "discovery.json"))

    monkeypatch.setattr(client_mod, "build_client", build_client)
    return cluster


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False, diff=False) -> (failed, result dict) as Ansible would see it."""
    import json

    from ansible.module_utils.testing import patch_module_args

    def run(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        capsys.readouterr()
        with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
            module.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        return exit_info.value.code != 0 or bool(result.get("failed")), result

    return run
