"""The Galaxy artifact as a user gets it: build, content, install into an empty path, run a playbook from it.

Also the execution environment definition (tests/ee/execution-environment.yml): `ansible-builder create` makes a
build context holding the collection artifact and our requirements.txt / bindep.txt (building the image itself
needs a container runtime and is not done here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FORBIDDEN = ("sandbox/", "tests/", "benchmarks/", ".cache/", ".venv/", ".git/", "docs/dev/")


def _run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, check=False, **kwargs)
    command = " ".join(map(str, cmd))
    assert proc.returncode == 0, f"{command} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out, REPO])
    [tarball] = out.glob("mlops-k8s-*.tar.gz")
    return tarball


def test_artifact_holds_the_collection_and_no_development_files(artifact):
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    leaked = sorted(n for n in names if n.startswith(FORBIDDEN) or n in {p.rstrip("/") for p in FORBIDDEN})
    assert leaked == [], f"build_ignore lets these into the artifact: {leaked[:20]}"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    for needed in ("meta/runtime.yml", "plugins/modules/seldon_deployment.py", "plugins/module_utils/client.py",
                   "roles/seldon_core/tasks/main.yml", "roles/model_namespace/tasks/main.yml",
                   "playbooks/install_platform.yml", "playbooks/teardown.yml", "README.md", "LICENSE",
                   "requirements.txt", "bindep.txt", "meta/execution-environment.yml"):
        assert needed in names, f"{needed} is missing from the artifact"
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("mlops", "k8s")
    assert info["repository"] and info["documentation"] and info["issues"]
    assert info["dependencies"] == {}, "the collection needs no other collection at run time"


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory) -> Path:
    """The artifact installed into an otherwise EMPTY collections path."""
    root = tmp_path_factory.mktemp("installed")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root))
    _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", root, artifact], env=env, cwd=root)
    dest = root / "ansible_collections" / "mlops" / "k8s"
    assert (dest / "MANIFEST.json").is_file() and not dest.is_symlink()
    assert sorted(p.name for p in (root / "ansible_collections").iterdir()) == ["mlops"]
    return root


def _playbook_env(sandbox, collections: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_", "MOLECULE_"))}
    env.update(sandbox.env)
    env.update(
        HOME=str(home),  # no ~/.ansible/collections from the developer's machine either
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        K8S_AUTH_KUBECONFIG=str(sandbox.kubeconfig),
        MLOPS_K8S_GATEWAY_URL=sandbox.env.get("SANDBOX_GATEWAY_URL", ""),
    )
    return env


@pytest.mark.sandbox
@pytest.mark.flow("the playbooks of the installed Galaxy artifact")
def test_playbooks_run_from_the_installed_copy(installed, sandbox, tmp_path):
    """install_platform then deploy_model, addressed by FQCN, from the installed artifact only."""
    dest = installed / "ansible_collections" / "mlops" / "k8s"
    if not (dest / "playbooks" / "install_platform.yml").is_file():
        pytest.skip("the collection has no playbooks/install_platform.yml")
    home = tmp_path / "home"
    home.mkdir()
    env = _playbook_env(sandbox, installed, home)
    base = [BIN / "ansible-playbook", "-i", "localhost,", "-c", "local"]
    # From an unrelated directory: nothing next to the working directory or the playbook can resolve mlops.k8s.
    proc = _run([*base, "mlops.k8s.install_platform"], env=env, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout
    status, _headers, body = sandbox.request(
        "GET", "/apis/apps/v1/namespaces/seldon-system/deployments/seldon-controller-manager")
    assert status == 200, body[:500]
    assert json.loads(body)["status"].get("availableReplicas", 0) >= 1

    if (dest / "playbooks" / "deploy_model.yml").is_file():
        model = tmp_path / "iris-model"
        _run([sys.executable, REPO / "examples" / "iris" / "train.py", model])
        extra = {"deploy_model_name": "iris-galaxy", "deploy_model_namespace": "galaxy-install",
                 "deploy_model_dir": str(model), "deploy_model_bucket": "galaxy-install"}
        proc = _run([*base, "mlops.k8s.deploy_model", "-e", json.dumps(extra)], env=env, cwd=tmp_path)
        output += proc.stdout + proc.stderr
        assert "failed=0" in proc.stdout
        status, _headers, body = sandbox.request(
            "GET", "/apis/machinelearning.seldon.io/v1/namespaces/galaxy-install/seldondeployments/iris-galaxy")
        assert status == 200, body[:500]
        assert json.loads(body)["status"]["state"] == "Available"
        # the playbook's smoke prediction went through the gateway and printed the probabilities
        assert "/seldon/galaxy-install/iris-galaxy/api/v1.0/predictions" in proc.stdout
    # Every role and module ran from the installed copy, never from the checkout.
    assert str(REPO / "roles") not in output and str(REPO / "plugins") not in output


def test_execution_environment_context(artifact, tmp_path):
    """`ansible-builder create` on tests/ee/execution-environment.yml gives a build context (no Docker needed)."""
    root = tmp_path / "tree"
    (root / "tests" / "ee").mkdir(parents=True)
    (root / "dist").mkdir()
    shutil.copy(REPO / "tests" / "ee" / "execution-environment.yml", root / "tests" / "ee")
    for name in ("requirements.txt", "bindep.txt"):
        shutil.copy(REPO / name, root / name)
    shutil.copy(artifact, root / "dist" / "mlops-k8s.tar.gz")
    context = tmp_path / "context"
    _run([BIN / "ansible-builder", "create", "-f", root / "tests" / "ee" / "execution-environment.yml",
          "--context", context, "--output-filename", "Containerfile"], cwd=root)

    build = context / "_build"
    containerfile = (context / "Containerfile").read_text()
    assert "registry.access.redhat.com/ubi9/python-311" in containerfile
    assert "ansible-galaxy collection install" in containerfile or "install-from-bindep" in containerfile
    # our run-time requirements and system packages, verbatim
    assert (build / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    # the collection comes from the local artifact, nothing from Galaxy
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy == {"collections": [{"name": "collections/mlops-k8s.tar.gz", "type": "file"}]}
    with tarfile.open(build / "collections" / "mlops-k8s.tar.gz") as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["name"] == "k8s"
    # the collection declares its own dependencies for ansible-builder's introspection
    with tarfile.open(artifact) as tar:
        ee = yaml.safe_load(tar.extractfile("meta/execution-environment.yml"))
    assert ee["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
