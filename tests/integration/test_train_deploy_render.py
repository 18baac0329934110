"""The WorkflowTemplate of mlops.k8s.train_deploy rendered without a cluster (the role's template, its defaults).

Issue 18 defect 3: the claim defaults to ReadWriteOnce (kind's local-path provisioner, EBS, GCE PD have no
ReadWriteMany), and every pod that mounts it -- the train step's and the model server's -- is scheduled on the node
of the ones already running (required pod affinity on the label mlops.k8s/model-volume=<claim>). ReadWriteMany stays
an option and then needs no affinity.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from test_platform_roles import run_local

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "train_deploy"
LABELS = {"mlops.k8s/model-volume": "iris-models"}
AFFINITY = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": LABELS}, "topologyKey": "kubernetes.io/hostname"}]}}


def render_template(collections_path: Path, out: Path, **extra_vars) -> dict:
    """The role's WorkflowTemplate with its defaults and extra_vars (as present.yml renders it)."""
    out.mkdir(parents=True, exist_ok=True)
    playbook = out / "render.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml")],
        "vars": {"train_deploy_name": "iris", "train_deploy_namespace": "models",
                 "__train_deploy_labels": {"app.kubernetes.io/managed-by": "mlops.k8s"}},
        "tasks": [{"name": "Render the WorkflowTemplate", "ansible.builtin.template": {
            "src": str(ROLE / "templates" / "workflow_template.yml.j2"), "dest": str(out / "template.yaml"),
            "mode": "0644"}}]}]))
    run_local(collections_path, playbook, extra_vars)
    return yaml.safe_load((out / "template.yaml").read_text())


def parts(template: dict) -> tuple[dict, dict]:
    """(the train template, the SeldonDeployment the deploy step applies)."""
    templates = {t["name"]: t for t in template["spec"]["templates"]}
    return templates["train"], yaml.safe_load(templates["deploy"]["resource"]["manifest"])


def test_defaults_read_write_once_with_every_pod_of_the_volume_on_one_node(collections_path, tmp_path):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["train_deploy_pvc_access_modes"] == ["ReadWriteOnce"]
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert specs["train_deploy_pvc_access_modes"]["default"] == ["ReadWriteOnce"]
    assert specs["train_deploy_same_node"]["type"] == "bool"

    train, sdep = parts(render_template(collections_path, tmp_path))
    assert train["metadata"]["labels"] == LABELS and train["affinity"] == AFFINITY
    predictor = sdep["spec"]["predictors"][0]
    assert predictor["graph"]["implementation"] == "SKLEARN_SERVER"
    assert predictor["graph"]["modelUri"] == "pvc://iris-models/{{inputs.parameters.model-location}}"
    [component] = predictor["componentSpecs"]
    assert component["metadata"]["labels"] == LABELS
    assert component["spec"] == {"containers": [{"name": "classifier"}], "affinity": AFFINITY}


def test_read_write_many_needs_no_affinity(collections_path, tmp_path):
    train, sdep = parts(render_template(collections_path, tmp_path / "rwx",
                                        train_deploy_pvc_access_modes=["ReadWriteMany"]))
    assert "affinity" not in train and "metadata" not in train
    assert "componentSpecs" not in sdep["spec"]["predictors"][0]
    # explicit choice wins over the access modes
    train, sdep = parts(render_template(collections_path, tmp_path / "forced",
                                        train_deploy_pvc_access_modes=["ReadWriteMany"], train_deploy_same_node=True))
    assert train["affinity"] == AFFINITY and sdep["spec"]["predictors"][0]["componentSpecs"]
