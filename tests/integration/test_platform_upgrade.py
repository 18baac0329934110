"""Issue 18: upgrade in place from the previous pins (Argo Workflows v3.5.12, Emissary-ingress 3.9.1, the roles' own
trimmed CRDs) to the current ones (v3.7.18, 3.10.0, the releases' CRDs unchanged), on the sandbox.

The previous pins are the collection as it was at PREVIOUS (read from git), installed on a platform torn down with
its CRDs; then a model is deployed and a WorkflowTemplate created with that collection; then install_platform.yml
of this tree runs. After it the controllers run the new images, every Argo and Emissary CRD is the vendored upstream
file (the installed CRDs compared with the sha256 lock), the SeldonDeployment is still Available and answers through
the gateway, and the WorkflowTemplate is submitted and succeeds. A second run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import uuid

import pytest
import yaml
from deploy_harness import DEPLOY, INSTALL, REPO, gateway_url, train

# the last commit with the previous pins (the parent of the upgrade)
PREVIOUS = "20f1dd96a27ca6e0446098db6a7a7d6b565b5b8b"
TEARDOWN = str(REPO / "playbooks" / "teardown.yml")
LOCK = json.loads((REPO / "hack" / "upstream-crds.lock.json").read_text())
NAMESPACE = "upgrade-%s" % uuid.uuid4().hex[:6]
IMAGES = {("argo", "workflow-controller"): "quay.io/argoproj/workflow-controller:%s",
          ("argo", "argo-server"): "quay.io/argoproj/argocli:%s",
          ("emissary", "emissary-ingress"): "docker.io/emissaryingress/emissary:%s",
          ("emissary-system", "emissary-apiext"): "docker.io/emissaryingress/emissary:%s"}
OLD = {"argo": "v3.5.12", "emissary": "3.9.1", "emissary-system": "3.9.1"}
NEW = {"argo": "v3.7.18", "emissary": "3.10.0", "emissary-system": "3.10.0"}
TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
    "metadata": {"name": "greeter", "namespace": NAMESPACE},
    "spec": {"entrypoint": "greet", "arguments": {"parameters": [{"name": "who", "value": "world"}]},
             "templates": [{"name": "greet", "inputs": {"parameters": [{"name": "who"}]},
                            "container": {"image": "python:3.11", "command": ["python", "-c"],
                                          "args": ["import sys; print('hello ' + sys.argv[1])",
                                                   "{{inputs.parameters.who}}"]}}]}}


def previous_collection(tmp_path):
    """The collection at PREVIOUS, as ANSIBLE_COLLECTIONS_PATH (None when this clone lacks that commit)."""
    root = tmp_path / "previous"
    target = root / "ansible_collections" / "mlops" / "k8s"
    target.mkdir(parents=True)
    archive = tmp_path / "previous.tar"
    proc = subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), PREVIOUS, "galaxy.yml", "meta",
                           "plugins", "roles", "playbooks"], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return root


def ok(run):
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


def get(sandbox, *args):
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def images(sandbox):
    return {(ns, name): get(sandbox, "deployment", name, "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
            for ns, name in IMAGES}


def upstream_crds():
    """{name: document} of the vendored files the default install applies (Argo's minimal CRDs, Emissary's)."""
    files = [f for f in LOCK["argo_workflows"]["files"] if "/crds/minimal/" in f] + list(LOCK["ambassador"]["files"])
    out = {}
    for name in files:
        data = (REPO / name).read_bytes()
        role = "ambassador" if "ambassador" in name else "argo_workflows"
        assert hashlib.sha256(data).hexdigest() == LOCK[role]["files"][name]["sha256"], name
        out.update({d["metadata"]["name"]: d for d in yaml.safe_load_all(data) if d})
    for doc in out.values():  # an omitempty bool: kube-apiserver neither stores nor returns a false one
        if doc["spec"].get("preserveUnknownFields") is False:
            del doc["spec"]["preserveUnknownFields"]
    return out


def installed_as_upstream(live, doc):
    """The installed CRD as its file has it: metadata name/labels/annotations and spec (the API server's defaults for
    what the file leaves out dropped; the caBundle apiext injects is not the file's either)."""
    spec = json.loads(json.dumps(live["spec"]))
    if "conversion" not in doc["spec"] and spec.get("conversion") == {"strategy": "None"}:
        del spec["conversion"]
    ((spec.get("conversion") or {}).get("webhook") or {}).get("clientConfig", {}).pop("caBundle", None)
    meta = {k: live["metadata"][k] for k in ("name", "labels", "annotations") if k in live["metadata"]}
    return {"apiVersion": live["apiVersion"], "kind": live["kind"], "metadata": meta, "spec": spec}


@pytest.mark.sandbox
@pytest.mark.timeout(1800)
def test_upgrade_from_the_previous_pins_keeps_models_and_workflow_templates(sandbox, run_playbook, tmp_path):
    url = gateway_url(sandbox)
    old = previous_collection(tmp_path)
    if old is None:
        pytest.skip("this clone has no commit %s (a shallow clone?): the previous pins cannot be installed" % PREVIOUS)
    previous = {"ANSIBLE_COLLECTIONS_PATH": str(old)}
    old_playbooks = old / "ansible_collections" / "mlops" / "k8s" / "playbooks"

    ok(run_playbook(TEARDOWN, extra_vars={"platform_remove_crds": True}))
    ok(run_playbook(str(old_playbooks / "install_platform.yml"), env=previous))
    assert images(sandbox) == {key: image % OLD[key[0]] for key, image in IMAGES.items()}
    mapping = get(sandbox, "crd", "mappings.getambassador.io")
    assert [v["name"] for v in mapping["spec"]["versions"]] == ["v2", "v3alpha1"]  # the trimmed copy

    model = train(tmp_path / "iris")
    deploy = {"deploy_model_namespace": NAMESPACE, "deploy_model_bucket": "upgrade-it", "deploy_model_name": "iris",
              "deploy_model_dir": str(model), "deploy_model_gateway_url": url, "deploy_model_wait_timeout": 240}
    ok(run_playbook(str(old_playbooks / "deploy_model.yml"), env=previous, extra_vars=deploy))
    ok(run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "steps service account", "mlops.k8s.service_account": {
            "name": "workflow", "namespace": NAMESPACE, "preset": "argo-workflow"}}]}], env=previous))
    (tmp_path / "template.json").write_text(json.dumps(TEMPLATE))  # kubectl: no Jinja over Argo's {{...}}
    sandbox.kubectl("apply", "--server-side", "-f", str(tmp_path / "template.json"))
    sdep_uid = get(sandbox, "seldondeployment", "iris", "-n", NAMESPACE)["metadata"]["uid"]

    upgrade = ok(run_playbook(INSTALL))
    assert upgrade.stats["changed"] > 0
    assert images(sandbox) == {key: image % NEW[key[0]] for key, image in IMAGES.items()}
    executor = get(sandbox, "deployment", "workflow-controller", "-n", "argo")["spec"]["template"]["spec"]
    assert "quay.io/argoproj/argoexec:v3.7.18" in executor["containers"][0]["args"]
    # every Argo and Emissary CRD is now the release's file, as locked (v1 of getambassador.io is served again)
    for name, doc in upstream_crds().items():
        assert installed_as_upstream(get(sandbox, "crd", name), doc) == doc, name

    # the existing SeldonDeployment is the same object, still Available, and answers through the gateway
    sdep = get(sandbox, "seldondeployment", "iris", "-n", NAMESPACE)
    assert sdep["metadata"]["uid"] == sdep_uid and sdep["status"]["state"] == "Available"
    predict = {"mlops.k8s.model_predict": {"name": "iris", "namespace": NAMESPACE, "url": url,
                                           "data": [[5.1, 3.5, 1.4, 0.2]]}, "register": "answer"}
    submit = {"mlops.k8s.argo_workflow": {"generate_name": "greeter-", "namespace": NAMESPACE,
                                          "workflow_template": "greeter", "service_account": "workflow",
                                          "parameters": {"who": "upgrade"}, "wait_timeout": 180}, "register": "wf"}
    after = ok(run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        dict(predict, name="predict"), dict(submit, name="submit")]}]))
    answer = after.task("predict")
    assert len(answer["json"]["data"]["ndarray"][0]) == 3, answer
    workflow = after.task("submit")
    assert workflow["phase"] == "Succeeded", workflow

    again = ok(run_playbook(INSTALL))
    assert again.stats["changed"] == 0, [t["_task"] for t in again.tasks() if t.get("changed")]
    ok(run_playbook(DEPLOY, extra_vars=dict(deploy, deploy_model_state="absent")))
