"""The sandbox operator with the collection's own seldon_core role (install_platform.yml): the role's CRD,
operator Deployment and seldon-config. The role goes to its own namespace with a controller id, so it lives side by
side with the minimal operator of the other tests (which ignores SeldonDeployments labelled for another one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from sbx import wait_for
from seldon_helpers import IRIS, REPO, SDEP_PATH, call, gateway, predictor, sdep_body, wait_state

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.mark.skipif(not shutil.which("ansible-playbook", path=str(REPO / ".venv" / "bin")),
                    reason="ansible-playbook is not installed in .venv")
def test_seldon_core_role_operator(sandbox, tmp_path, model_ns, iris_uri):
    # the role applies its CRD server-side: the tests' own CRD (another field manager) would conflict, as it would
    # on a real cluster; replace it (this deletes the SeldonDeployments of the earlier tests)
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/seldondeployments.machinelearning.seldon.io"
    _, cur = call(sandbox, "GET", crd)
    if not ((cur or {}).get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/managed-by"):
        call(sandbox, "DELETE", crd)
        wait_for(lambda: call(sandbox, "GET", crd)[0] == 404, 60, what="the tests' CRD to be deleted")
    coll = tmp_path / "ansible_collections" / "mlops"
    coll.mkdir(parents=True)
    (coll / "k8s").symlink_to(REPO)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path), K8S_AUTH_KUBECONFIG=sandbox.kubeconfig,
               ANSIBLE_NOCOLOR="1")
    extra = {"platform_components": ["seldon_core"], "seldon_core_namespace": "seldon-role",
             "seldon_core_controller_id": "role"}
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/install_platform.yml",
                           "-e", json.dumps(extra)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    ns = model_ns
    body = sdep_body("iris", [predictor("default", iris_uri)])
    body["metadata"]["labels"] = {"seldon.io/controller-id": "role"}
    code, out = call(sandbox, "POST", SDEP_PATH.format(ns=ns), body)
    assert code == 201, out
    o = wait_state(sandbox, ns, "iris")
    assert o["status"]["deploymentStatus"]["iris-default-0-classifier"]["availableReplicas"] == 1
    code, out = gateway(sandbox, f"/seldon/{ns}/iris/api/v1.0/predictions", IRIS)
    assert code == 200, out
    assert len(out["data"]["ndarray"]) == 3
