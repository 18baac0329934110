"""The platform roles (seldon_core, argo_workflows, ambassador) and playbooks/install_platform.yml / teardown.yml.

Two parts:
- rendering (no cluster): every role's manifests are rendered with its ``render`` entry point through a real
  ``ansible-playbook`` run; every document parses, every CRD schema is structural, the Seldon/Argo/Emissary CRDs
  have the shapes of the real products, and ONE registry variable per role reaches every image field (container
  images, the executor image, every image in seldon-config);
- against the sandbox (``@pytest.mark.sandbox``): check mode on fresh namespaces sends no write; install; a second
  run changes nothing and sends no write; check mode on the installed cluster sends no write; teardown removes
  everything (CRDs included when asked); re-install works and is idempotent again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import openapi_strict
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = ("seldon_core", "argo_workflows", "ambassador")
MIRROR = "mirror.example.com:5000/ml-platform"
PLATFORM_NAMESPACES = ("seldon-system", "argo", "emissary", "emissary-system")
SELDON_SERVERS = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "TENSORFLOW_SERVER", "TRITON_SERVER")
LOCK = json.loads((REPO / "hack" / "upstream-crds.lock.json").read_text())
# role -> the vendored upstream CRD files its default render installs (hack/vendor_crds.py; Seldon's module is
# refused by the proxy, so that role keeps its own CRD template)
UPSTREAM_CRD_FILES = {
    "argo_workflows": sorted(f for f in LOCK["argo_workflows"]["files"] if "/crds/minimal/" in f),
    "ambassador": sorted(LOCK["ambassador"]["files"]),
}


# -- rendering helpers --------------------------------------------------------------------------------------------
def run_local(collections_path: Path, playbook: Path, extra_vars: dict) -> None:
    """ansible-playbook on localhost with the collection from collections_path (no cluster); it must succeed."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
           "-e", json.dumps(extra_vars)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def render(collections_path: Path, out: Path, **extra_vars) -> dict[str, list[dict]]:
    """Render the three roles' manifests with ansible-playbook; return {role: [documents in apply order]}."""
    tasks = [{
        "name": "Render %s" % role,
        "ansible.builtin.include_role": {"name": "mlops.k8s.%s" % role, "tasks_from": "render"},
        "vars": {"%s_render_dir" % role: str(out / role)},
    } for role in ROLES]
    playbook = out / "render.yml"
    playbook.parent.mkdir(parents=True, exist_ok=True)
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    run_local(collections_path, playbook, extra_vars)
    result = {}
    for role in ROLES:
        docs = []
        for path in sorted((out / role).glob("*.yaml")):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
        result[role] = docs
    return result


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert found, "no %s %s" % (kind, name or "")
    return found[0] if name else found


def walk(node, path=""):
    """Every (path, key, value) of a nested structure."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, "%s.%s" % (path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, "%s[%d]" % (path, index))


def image_fields(doc):
    """Every image reference of a document: container images, image env values/args, seldon-config images."""
    images = []
    for path, key, value in walk(doc):
        if key == "image" and isinstance(value, str):
            images.append(("%s.image" % path, value))
        if key == "env" and isinstance(value, list):
            images += [("%s.env.%s" % (path, e["name"]), e["value"]) for e in value
                       if "IMAGE" in e.get("name", "") and e.get("value") and "PULL_POLICY" not in e["name"]]
        if key == "args" and isinstance(value, list):
            images += [("%s.args" % path, value[i + 1]) for i, a in enumerate(value[:-1]) if a == "--executor-image"]
    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "seldon-config":
        data = doc["data"]
        for server, spec in json.loads(data["predictor_servers"]).items():
            for protocol, proto in spec["protocols"].items():
                images.append(("predictor_servers.%s.%s" % (server, protocol), proto["image"]))
        images.append(("storageInitializer.image", json.loads(data["storageInitializer"])["image"]))
        explainer = json.loads(data["explainer"])
        images += [("explainer.image", explainer["image"]), ("explainer.image_v2", explainer["image_v2"])]
    return images


# -- structural schema check (the API server's rules for CRD schemas) --------------------------------------------
def _node_errors(node, path):
    """The rules about one schema node (not its children)."""
    errors = []
    kind = node.get("type")
    special = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if kind is None and not special:
        errors.append("%s: no type" % path)
    for junctor in ("anyOf", "allOf", "oneOf"):
        for sub in node.get(junctor, []):
            if not node.get("x-kubernetes-int-or-string") and {"type", "additionalProperties", "default"} & set(sub):
                errors.append("%s.%s: type/additionalProperties/default inside a junctor" % (path, junctor))
    if "properties" in node and "additionalProperties" in node:
        errors.append("%s: properties and additionalProperties together" % path)
    if "properties" in node and kind not in (None, "object"):
        errors.append("%s: properties on a %s" % (path, kind))
    if kind == "array" and not isinstance(node.get("items"), dict):
        errors.append("%s: array without items" % path)
    if "items" in node and kind != "array":
        errors.append("%s: items on a %s" % (path, kind))
    return errors


def structural_errors(node, path, root=False):
    if not isinstance(node, dict):
        return ["%s: not a mapping" % path]
    errors = _node_errors(node, path)
    for key, sub in (node.get("properties") or {}).items():
        if root and key == "metadata" and set(sub) - {"type", "description", "properties"}:
            errors.append("%s.metadata: only type/properties allowed at the root's metadata" % path)
        errors += structural_errors(sub, "%s.%s" % (path, key))
    if isinstance(node.get("additionalProperties"), dict):
        errors += structural_errors(node["additionalProperties"], "%s[*]" % path)
    if isinstance(node.get("items"), dict):
        errors += structural_errors(node["items"], "%s[]" % path)
    return errors


def check_crd(crd):
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "%s.%s" % (spec["names"]["plural"], spec["group"])
    versions = spec["versions"]
    assert sum(1 for v in versions if v["storage"]) == 1, crd["metadata"]["name"]
    for version in versions:
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        errors = structural_errors(schema, "%s/%s" % (crd["metadata"]["name"], version["name"]), root=True)
        assert not errors, errors
        for column in version.get("additionalPrinterColumns", []):
            assert {"name", "type", "jsonPath"} <= set(column)


# -- rendering tests ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def render_dir(collections_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("render-defaults")
    render(collections_path, out)
    return out


@pytest.fixture(scope="module")
def rendered(render_dir):
    return {role: [d for path in sorted((render_dir / role).glob("*.yaml"))
                   for d in yaml.safe_load_all(path.read_text()) if d is not None] for role in ROLES}


def by_name(docs):
    return sorted(docs, key=lambda d: d["metadata"]["name"])


def is_upstream_crd(role, doc):
    return doc["kind"] == "CustomResourceDefinition" and role in UPSTREAM_CRD_FILES


def test_every_rendered_document_parses_and_every_crd_is_structural(rendered):
    crds = 0
    for role, docs in rendered.items():
        assert docs, role
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), (role, doc)
            labels = doc["metadata"].get("labels") or {}
            if not is_upstream_crd(role, doc):  # upstream's CRDs keep upstream's labels
                assert labels.get("app.kubernetes.io/managed-by") == "mlops.k8s", (role, doc["kind"], doc["metadata"])
            if doc["kind"] == "CustomResourceDefinition":
                check_crd(doc)
                crds += 1
    assert crds == 1 + 8 + 14


def test_seldon_deployment_crd_has_the_real_shape(rendered):
    crd = find(rendered["seldon_core"], "CustomResourceDefinition", "seldondeployments.machinelearning.seldon.io")
    assert crd["spec"]["names"]["shortNames"] == ["sdep"]
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert set(versions) == {"v1", "v1alpha2", "v1alpha3"} and versions["v1"]["storage"]
    for version in versions.values():
        assert version["served"]
        assert version["subresources"]["status"] == {}
        assert version["subresources"]["scale"] == {"specReplicasPath": ".spec.replicas",
                                                    "statusReplicasPath": ".status.replicas"}
        assert "State" in [c["name"] for c in version["additionalPrinterColumns"]]
    schema = versions["v1"]["schema"]["openAPIV3Schema"]["properties"]
    spec = schema["spec"]["properties"]
    assert {"name", "annotations", "protocol", "transport", "replicas", "predictors"} <= set(spec)
    predictor = spec["predictors"]["items"]
    assert {"name", "replicas", "traffic", "shadow", "graph", "componentSpecs", "labels", "annotations",
            "engineResources", "svcOrchSpec", "explainer"} <= set(predictor["properties"])
    assert predictor["properties"]["componentSpecs"]["items"]["properties"]["spec"][
        "x-kubernetes-preserve-unknown-fields"]
    # the recursive graph is spelled out a few levels deep, then kept as unknown fields
    node, depth = predictor["properties"]["graph"], 1
    while "properties" in node:
        assert {"name", "type", "implementation", "modelUri", "children", "parameters", "endpoint"} <= set(
            node["properties"])
        node, depth = node["properties"]["children"]["items"], depth + 1
    assert node["x-kubernetes-preserve-unknown-fields"] and depth > 3
    status = schema["status"]["properties"]
    assert status["state"]["enum"] == ["Creating", "Available", "Failed"]
    assert {"description", "deploymentStatus", "serviceStatus", "address", "replicas"} <= set(status)


def test_argo_and_emissary_crds_are_the_upstream_files_unchanged(render_dir, rendered):
    """Issue 18 item 7: the CRDs the roles install are the release's files byte for byte, as locked."""
    for role, files in UPSTREAM_CRD_FILES.items():
        text = (render_dir / role / "00-crds.yaml").read_text()
        for name in files:
            data = (REPO / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == LOCK[role]["files"][name]["sha256"], name
            assert data.decode() in text, "%s is not in the rendered CRDs unchanged" % name
        # nothing but those files: the same documents, parsed
        upstream = [d for name in files for d in yaml.safe_load_all((REPO / name).read_text()) if d]
        assert by_name(find(rendered[role], "CustomResourceDefinition")) == by_name(upstream), role

    argo = {c["spec"]["names"]["kind"] for c in find(rendered["argo_workflows"], "CustomResourceDefinition")}
    assert argo == {"Workflow", "WorkflowTemplate", "CronWorkflow", "ClusterWorkflowTemplate",
                    "WorkflowTaskResult", "WorkflowTaskSet", "WorkflowEventBinding", "WorkflowArtifactGCTask"}
    emissary = {c["spec"]["names"]["kind"]: c for c in find(rendered["ambassador"], "CustomResourceDefinition")}
    assert len(emissary) == 14
    mapping = {v["name"]: v for v in emissary["Mapping"]["spec"]["versions"]}
    assert set(mapping) == {"v1", "v2", "v3alpha1"} and mapping["v2"]["storage"]  # v1 is served again
    conversion = emissary["Mapping"]["spec"]["conversion"]
    assert conversion["webhook"]["clientConfig"]["service"] == {
        "name": "emissary-apiext", "namespace": "emissary-system", "path": "/webhooks/crd-convert", "port": 443}
    # apiext (3.10) puts its caBundle only into the CRDs its label selector picks: every upstream CRD
    apiext = find(rendered["ambassador"], "Deployment", "emissary-apiext")["spec"]["template"]["spec"]["containers"][0]
    key, value = apiext["args"][apiext["args"].index("--crd-label-selector") + 1].split("=")
    assert all(crd["metadata"]["labels"][key] == value for crd in emissary.values())


def test_argo_full_crds_are_upstream_and_typed(collections_path, tmp_path):
    """argo_workflows_crd_schema=full installs the release's full CRDs: pod specs typed, unknown fields refused."""
    argo = render(collections_path, tmp_path, argo_workflows_crd_schema="full")["argo_workflows"]
    files = sorted(f for f in LOCK["argo_workflows"]["files"] if "/crds/full/" in f)
    assert by_name(find(argo, "CustomResourceDefinition")) == by_name(
        [d for name in files for d in yaml.safe_load_all((REPO / name).read_text()) if d])
    template = find(argo, "CustomResourceDefinition", "workflowtemplates.argoproj.io")["spec"]["versions"][0]
    spec = template["schema"]["openAPIV3Schema"]["properties"]["spec"]
    container = spec["properties"]["templates"]["items"]["properties"]["container"]
    assert "x-kubernetes-preserve-unknown-fields" not in spec and "resources" in container["properties"]


def test_seldon_config_has_the_real_shape(rendered):
    config = find(rendered["seldon_core"], "ConfigMap", "seldon-config")
    servers = json.loads(config["data"]["predictor_servers"])
    assert set(SELDON_SERVERS) <= set(servers)
    for name in ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER"):
        assert set(servers[name]["protocols"]) == {"seldon", "v2"}
    for spec in servers.values():
        for protocol in spec["protocols"].values():
            assert set(protocol) == {"image", "defaultImageVersion"}
            assert ":" not in protocol["image"].rsplit("/", 1)[-1]  # the tag is defaultImageVersion
    assert servers["SKLEARN_SERVER"]["protocols"]["seldon"]["defaultImageVersion"] == "1.18.2"
    assert servers["TRITON_SERVER"]["protocols"]["v2"]["image"] == "nvcr.io/nvidia/tritonserver"
    for key in ("storageInitializer", "explainer", "credentials"):
        json.loads(config["data"][key])
    operator = find(rendered["seldon_core"], "Deployment", "seldon-controller-manager")
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AMBASSADOR_ENABLED"] == "true" and env["ISTIO_ENABLED"] == "false"
    assert env["WATCH_NAMESPACE"] == "" and env["MANAGER_CREATE_RESOURCES"] == "true"
    assert env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "docker.io/seldonio/seldon-core-executor:1.18.2"
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "docker.io/seldonio/seldon-core-operator:1.18.2")


def test_one_registry_variable_reaches_every_image(collections_path, tmp_path):
    rendered = render(collections_path, tmp_path, seldon_core_image_registry=MIRROR,
                      argo_workflows_image_registry=MIRROR, ambassador_image_registry=MIRROR)
    seen = []
    for role, docs in rendered.items():
        for doc in docs:
            for where, image in image_fields(doc):
                seen.append((role, where, image))
                assert image.startswith(MIRROR + "/"), (role, doc["kind"], doc["metadata"]["name"], where, image)
    roles = {role for role, _where, _image in seen}
    assert roles == set(ROLES)
    wheres = " ".join(where for _role, where, _image in seen)
    for expected in ("EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "storageInitializer", "explainer.image_v2",
                     "predictor_servers.TRITON_SERVER.v2", "predictor_servers.SKLEARN_SERVER.seldon", ".args"):
        assert expected in wheres, expected
    images = {image for _role, _where, image in seen}
    assert MIRROR + "/nvidia/tritonserver" in images
    assert MIRROR + "/argoproj/argoexec:v3.7.18" in images
    assert MIRROR + "/emissaryingress/emissary:3.10.0" in images


def test_render_variants(collections_path, tmp_path):
    rendered = render(
        collections_path, tmp_path,
        seldon_core_watch_namespace="models", seldon_core_gateway="istio", seldon_core_webhook_mode="cert_manager",
        seldon_core_image_pull_secrets=["regcred"], seldon_core_node_selector={"pool": "ml"},
        seldon_core_tolerations=[{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
        argo_workflows_watch_namespace="models", argo_workflows_server_enabled=False,
        argo_workflows_executor_bindings=[{"namespace": "models", "service_account": "default"}],
        ambassador_crd_conversion_webhook=False, ambassador_create_default_listeners=False,
    )
    seldon = rendered["seldon_core"]
    assert not [d for d in seldon if d["kind"] == "ClusterRole" and d["metadata"]["name"].startswith("seldon-manager")]
    role = find(seldon, "Role", "seldon-manager-role")
    assert role["metadata"]["namespace"] == "models"
    assert find(seldon, "Namespace", "models")["metadata"]["labels"]["seldon.io/controller-id"] == "models"
    pod = find(seldon, "Deployment", "seldon-controller-manager")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["WATCH_NAMESPACE"] == "models" and env["ISTIO_ENABLED"] == "true"
    assert env["AMBASSADOR_ENABLED"] == "false" and env["MANAGER_CREATE_RESOURCES"] == "false"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}] and pod["nodeSelector"] == {"pool": "ml"}
    assert pod["tolerations"][0]["key"] == "ml"
    assert pod["volumes"][0]["secret"]["secretName"] == "seldon-webhook-server-cert"
    find(seldon, "Certificate", "seldon-serving-cert")
    webhook = find(seldon, "ValidatingWebhookConfiguration")[0]
    assert webhook["webhooks"][0]["clientConfig"]["service"]["name"] == "seldon-webhook-service"

    argo = rendered["argo_workflows"]
    assert not [d for d in argo if d["kind"] == "Deployment" and d["metadata"]["name"] == "argo-server"]
    args = find(argo, "Deployment", "workflow-controller")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--managed-namespace") + 1] == "models" and "--namespaced" in args
    assert find(argo, "Role", "argo-controller-role")["metadata"]["namespace"] == "models"
    assert find(argo, "RoleBinding", "argo-workflows-executor-default")["metadata"]["namespace"] == "models"

    emissary = rendered["ambassador"]
    assert not [d for d in emissary if d["metadata"]["name"] == "emissary-apiext"]
    assert not [d for d in emissary if d["kind"] == "Listener"]
    crds = find(emissary, "CustomResourceDefinition")
    assert len(crds) == 14 and all(d["spec"]["conversion"] == {"strategy": "None"} for d in crds)


def test_emissary_apiext_in_another_namespace(collections_path, tmp_path):
    """The one change to upstream's CRDs on a non-default path: the conversion webhook Service's namespace."""
    emissary = render(collections_path, tmp_path, ambassador_apiext_namespace="gw-system")["ambassador"]
    upstream = list(yaml.safe_load_all((REPO / UPSTREAM_CRD_FILES["ambassador"][0]).read_text()))
    for crd, original in zip(find(emissary, "CustomResourceDefinition"), upstream, strict=True):
        conversion = crd["spec"].pop("conversion", None)
        if conversion and conversion["strategy"] == "Webhook":
            assert conversion["webhook"]["clientConfig"]["service"]["namespace"] == "gw-system"
        original["spec"].pop("conversion", None)
        assert crd == original


VARIANTS = {
    "seldon_core_watch_namespace": "models", "seldon_core_gateway": "istio", "seldon_core_webhook_mode": "cert_manager",
    "seldon_core_image_pull_secrets": ["regcred"], "seldon_core_node_selector": {"pool": "ml"},
    "seldon_core_tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
    "argo_workflows_watch_namespace": "models", "argo_workflows_server_enabled": False,
    "argo_workflows_executor_bindings": [{"namespace": "models", "service_account": "default"}],
    "argo_workflows_image_pull_secrets": ["regcred"], "argo_workflows_tolerations": [{"operator": "Exists"}],
    "ambassador_crd_conversion_webhook": False, "ambassador_single_namespace": True, "ambassador_id": "gw1",
    "ambassador_image_pull_secrets": ["regcred"], "ambassador_apiext_namespace": "gw-system",
}


def test_every_rendered_object_validates_strictly_against_the_kubernetes_openapi(
        rendered, collections_path, tmp_path):
    """Issue 18: every object the roles render (defaults, and the variants above) is valid for the Kubernetes
    release hack/kube pins (1.32+) with unknown fields refused: built-in kinds against that release's
    api/openapi-spec/v3, custom resources against the rendered CRDs' schemas."""
    directory = openapi_strict.spec_dir()
    if directory is None:
        pytest.skip("k8s.io/kubernetes@%s is not in the Go module cache (hack/kube/build.sh downloads it): no "
                    "OpenAPI schemas to validate against" % openapi_strict.kubernetes_version())
    assert openapi_strict.kubernetes_version() >= "v1.32"
    schemas = openapi_strict.Schemas(directory)
    variants = render(collections_path, tmp_path, **VARIANTS)
    unknown, checked = set(), 0
    for name, render_set in (("defaults", rendered), ("variants", variants)):
        docs = [d for role in ROLES for d in render_set[role]]
        crds = openapi_strict.crd_schemas(docs)
        for doc in docs:
            errors = openapi_strict.validate(schemas, crds, doc)
            if errors is None:
                unknown.add((doc["apiVersion"], doc["kind"]))
                continue
            checked += 1
            assert not errors, (name, doc["kind"], doc["metadata"]["name"], errors[:10])
    # cert-manager's kinds (seldon_core_webhook_mode: cert_manager) are the only ones without a schema here
    assert unknown == {("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer")}
    assert checked > 100


def test_the_strict_validator_refuses_what_the_api_server_refuses(rendered):
    """The control: unknown fields, wrong types, missing required fields and bad enums are found."""
    directory = openapi_strict.spec_dir()
    if directory is None:
        pytest.skip("k8s.io/kubernetes is not in the Go module cache: no OpenAPI schemas")
    schemas = openapi_strict.Schemas(directory)
    docs = [d for role in ROLES for d in rendered[role]]
    crds = openapi_strict.crd_schemas(docs)
    deployment = json.loads(json.dumps(find(rendered["argo_workflows"], "Deployment", "workflow-controller")))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    container["ports"][0]["containerPort"] = "9090"
    del container["name"]
    errors = openapi_strict.validate(schemas, crds, deployment)
    assert [e.split(": ", 1)[1] for e in errors] == [
        "required", "'9090' is not of type integer", "unknown field"], errors
    listener = json.loads(json.dumps(find(rendered["ambassador"], "Listener")[0]))
    listener["spec"]["protocols"] = ["HTTP"]
    listener["spec"]["securityModel"] = "OPEN"  # the CRD's enum: XFP, SECURE, INSECURE
    listener["metadata"]["label"] = {}
    assert len(openapi_strict.validate(schemas, crds, listener)) == 3


def test_seldon_webhook_lists_v1_only(collections_path, tmp_path):
    """Issue 18 defect 5: upstream's webhook (chart webhook.yaml, operator config/webhook) lists v1 only; v1alpha2
    and v1alpha3 requests reach it converted to v1 (matchPolicy Equivalent)."""
    seldon = render(collections_path, tmp_path, seldon_core_webhook_mode="cert_manager")["seldon_core"]
    webhook = find(seldon, "ValidatingWebhookConfiguration", "seldon-validating-webhook-configuration-seldon-system")
    for hook in webhook["webhooks"]:
        assert hook["clientConfig"]["service"]["path"] == "/validate-machinelearning-seldon-io-v1-seldondeployment"
        assert [rule["apiVersions"] for rule in hook["rules"]] == [["v1"]], hook["rules"]


def test_seldon_single_namespace_operator_runs_in_the_watched_namespace(collections_path, tmp_path):
    """Issue 18 defect 2: with a watch namespace the operator's cache sees that namespace only, so seldon-config (read
    from the operator's own namespace, POD_NAMESPACE) must be there: as upstream's singleNamespace chart, the operator,
    its configuration, webhook Service and RBAC subjects live in the watched namespace."""
    for mode in ("operator", "cert_manager"):
        seldon = render(collections_path, tmp_path / mode, seldon_core_watch_namespace="models",
                        seldon_core_webhook_mode=mode)["seldon_core"]
        namespaced = [d for d in seldon if d["kind"] not in (
            "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
            "ValidatingWebhookConfiguration")]
        assert {(d["kind"], d["metadata"]["namespace"]) for d in namespaced} >= {
            ("Deployment", "models"), ("ConfigMap", "models"), ("ServiceAccount", "models"), ("Service", "models")}
        assert {d["metadata"]["namespace"] for d in namespaced} == {"models"}, [
            (d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) for d in namespaced]
        assert [d["metadata"]["name"] for d in seldon if d["kind"] == "Namespace"] == ["models"]
        for binding in (d for d in seldon if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "seldon-manager", "namespace": "models"}]
        pod = find(seldon, "Deployment", "seldon-controller-manager")["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["WATCH_NAMESPACE"] == "models" and "--namespace=models" in pod["containers"][0]["args"]
        if mode == "cert_manager":
            webhook = find(seldon, "ValidatingWebhookConfiguration", "seldon-validating-webhook-configuration-models")
            assert webhook["webhooks"][0]["clientConfig"]["service"]["namespace"] == "models"
            assert find(seldon, "Certificate", "seldon-serving-cert")["spec"]["dnsNames"][0] == (
                "seldon-webhook-service.models.svc")


def uninstall_webhooks(collections_path: Path, out: Path, **extra_vars) -> list[str]:
    """The ValidatingWebhookConfigurations seldon_core_state=absent deletes besides its templates' objects (the ones
    the operator registers itself), read from the role with its variables."""
    playbook = out / "webhooks.yml"
    out.mkdir(parents=True, exist_ok=True)
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Load the role's variables", "ansible.builtin.include_role": {
            "name": "mlops.k8s.seldon_core", "tasks_from": "render", "public": True},
         "vars": {"seldon_core_render_dir": str(out / "render")}},
        {"name": "Write the webhooks", "ansible.builtin.copy": {
            "content": "{{ __seldon_core_webhook_stub | to_json }}", "dest": str(out / "webhooks.json"),
            "mode": "0644"}}]}]))
    run_local(collections_path, playbook, extra_vars)
    stubs = json.loads((out / "webhooks.json").read_text())
    assert {(d["apiVersion"], d["kind"]) for d in stubs} == {
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")}
    return sorted(d["metadata"]["name"] for d in stubs)


def test_seldon_uninstall_deletes_the_webhook_the_operator_registered(collections_path, tmp_path):
    """Issue 18 defect 1: upstream 1.18.2's operator (operator/utils/k8s/webhook.go) registers
    seldon-validating-webhook-configuration cluster-wide and adds -<its namespace> only with a watch namespace (and no
    mutating webhook). Left behind (it is owned by the CRD, which uninstall keeps), the cluster-wide one makes every
    SeldonDeployment create fail with "service not found". (This reads the list the uninstall deletes;
    test_teardown_removes_everything_but_the_crds checks on the cluster that nothing is left to block.)"""
    assert uninstall_webhooks(collections_path, tmp_path / "cluster") == [
        "seldon-validating-webhook-configuration", "seldon-validating-webhook-configuration-seldon-system"]
    # single-namespace mode: the operator runs in the watched namespace and removed the cluster-wide name itself
    # at start-up; another operator's cluster-wide webhook is not ours to delete
    assert uninstall_webhooks(collections_path, tmp_path / "single", seldon_core_watch_namespace="models") == [
        "seldon-validating-webhook-configuration-models"]
    readme = " ".join((REPO / "roles" / "seldon_core" / "README.md").read_text().split())
    assert "registers `seldon-validating-webhook-configuration` at start-up" in readme


def test_argo_controller_reads_no_secret_cluster_wide(rendered):
    """Issue 18 defect 4: as upstream v3.7.18 (workflow-controller-clusterrole.yaml), cluster-wide the controller may
    get one Secret by name (the agent's CA certificates); every Secret only in its own namespace (argo-role)."""
    argo = rendered["argo_workflows"]
    for role in (d for d in argo if d["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            if "" in rule["apiGroups"] and "secrets" in rule["resources"] and role["metadata"]["name"] != (
                    "argo-server-cluster-role"):  # the server's get/create secrets is upstream's too
                assert rule.get("resourceNames") == ["argo-workflows-agent-ca-certificates"], (role["metadata"], rule)
                assert rule["verbs"] == ["get"]
    cluster = find(argo, "ClusterRole", "argo-cluster-role")["rules"]
    assert {"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": ["get", "watch", "list"]} in cluster
    own = find(argo, "Role", "argo-role")
    assert own["metadata"]["namespace"] == "argo"
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]} in own["rules"]


# -- against the sandbox ------------------------------------------------------------------------------------------
INSTALL = str(REPO / "playbooks" / "install_platform.yml")
TEARDOWN = str(REPO / "playbooks" / "teardown.yml")


def on_cluster(sandbox, extra_vars: dict | None = None, *, teardown: bool = False) -> dict:
    """The variables of a run: the same on both control planes (the real one runs the sandbox's kubelet, operators
    and webhook servers as API clients)."""
    del sandbox, teardown
    return dict(extra_vars or {})


def expected_namespaces(sandbox) -> tuple[str, ...]:
    del sandbox
    return PLATFORM_NAMESPACES


def expected_crds(sandbox) -> int:
    del sandbox
    return 1 + 8 + 14


def run_ok(run_playbook, playbook, *args, **kwargs):
    run = run_playbook(playbook, *args, **kwargs)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


def assert_no_writes(sandbox, mark, what):
    writes = sandbox.writes(mark)
    assert not writes, "%s wrote to the API: %s" % (what, [(w["method"], w["path"]) for w in writes][:20])


def platform_objects(sandbox):
    """Namespaces, cluster RBAC and CRDs the platform roles own (by name / label)."""
    kube = sandbox.kubectl
    namespaces = kube("get", "namespaces", "-o", "name").stdout.split()
    rbac = kube("get", "clusterroles,clusterrolebindings", "-o", "name", "-l",
                "app.kubernetes.io/managed-by=mlops.k8s,"
                "app.kubernetes.io/part-of in (seldon-core,argo-workflows,emissary-ingress)").stdout.split()
    crds = [c for c in kube("get", "crds", "-o", "name").stdout.split()
            if c.endswith((".machinelearning.seldon.io", ".argoproj.io", ".getambassador.io"))]
    return [n for n in namespaces if n.split("/", 1)[1] in PLATFORM_NAMESPACES], rbac, crds


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_check_mode_on_fresh_namespaces_sends_no_write(sandbox, run_playbook):
    suffix = uuid.uuid4().hex[:6]
    fresh = {"seldon_core_namespace": "sc-" + suffix, "argo_workflows_namespace": "argo-" + suffix,
             "ambassador_namespace": "em-" + suffix, "ambassador_apiext_namespace": "emx-" + suffix}
    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, INSTALL, "--check", extra_vars=on_cluster(sandbox, fresh))
    assert run.stats["changed"] > 0
    assert_no_writes(sandbox, mark, "check mode on fresh namespaces")
    for namespace in fresh.values():
        assert sandbox.kubectl("get", "namespace", namespace, check=False).returncode != 0


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_install_then_rerun_changes_nothing_and_sends_no_write(sandbox, run_playbook):
    run = run_ok(run_playbook, INSTALL, extra_vars=on_cluster(sandbox))
    assert run.stats["changed"] > 0
    deployments = [("seldon-system", "seldon-controller-manager"), ("argo", "workflow-controller"),
                   ("argo", "argo-server"), ("emissary", "emissary-ingress"), ("emissary-system", "emissary-apiext")]
    for namespace, deployment in deployments:
        status = sandbox.kubectl("get", "deployment", deployment, "-n", namespace, "-o",
                                 "jsonpath={.status.conditions[?(@.type=='Available')].status}").stdout
        assert status == "True", (namespace, deployment, status)
    # the webhooks the roles register are called by the API server (the real one dials the sandbox's webhook
    # servers through their FQDN EndpointSlices on 127.0.0.1) and answer as upstream's
    assert_unknown_implementation_refused(sandbox)
    assert_mapping_written_through_the_conversion_webhook(sandbox)
    explain = sandbox.kubectl("explain", "seldondeployment.spec.predictors").stdout
    assert "graph" in explain and "componentSpecs" in explain
    assert "sdep" in sandbox.kubectl("api-resources", "--api-group=machinelearning.seldon.io").stdout

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, INSTALL, extra_vars=on_cluster(sandbox))
    assert again.stats["changed"] == 0, [t["_task"] for t in again.tasks() if t.get("changed")]
    assert_no_writes(sandbox, mark, "the second install run")


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_check_mode_on_the_installed_platform_sends_no_write(sandbox, run_playbook):
    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, INSTALL, "--check", extra_vars=on_cluster(sandbox))
    assert run.stats["changed"] == 0, [t["_task"] for t in run.tasks() if t.get("changed")]
    changed = run_ok(run_playbook, INSTALL, "--check", "--diff",
                     extra_vars=on_cluster(sandbox, {"seldon_core_image_registry": MIRROR}))
    assert changed.stats["changed"] > 0
    assert_no_writes(sandbox, mark, "check mode on the installed platform")
    image = sandbox.kubectl("get", "deployment", "seldon-controller-manager", "-n", "seldon-system", "-o",
                            "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "docker.io/seldonio/seldon-core-operator:1.18.2"


SDEP_UNKNOWN = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
                "metadata": {"name": "webhook-probe", "namespace": "default"},
                "spec": {"predictors": [{"name": "main", "graph": {"name": "classifier", "implementation": "FOO_SERVER",
                                                                   "modelUri": "s3://models/iris"}}]}}


def assert_unknown_implementation_refused(sandbox):
    """The operator registered upstream's validating webhook and serves it: refused with upstream's message."""
    code, body = create_sdep_dry_run(sandbox)
    assert code == 422, body
    assert body["message"] == (
        'admission webhook "v1.vseldondeployment.kb.io" denied the request: SeldonDeployment.machinelearing.seldon.io '
        '"webhook-probe" is invalid: spec.predictors[0].graph: Invalid value: "classifier": No entry in predictors '
        "map for FOO_SERVER")


def assert_mapping_written_through_the_conversion_webhook(sandbox):
    """A v3alpha1 Mapping is stored as v2 (the CRDs' storage version) through emissary-apiext, and read back."""
    crd = json.loads(sandbox.kubectl("get", "crd", "mappings.getambassador.io", "-o", "json").stdout)
    assert crd["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle"), "apiext wrote no caBundle"
    mapping = {"apiVersion": "getambassador.io/v3alpha1", "kind": "Mapping",
               "metadata": {"name": "webhook-probe", "namespace": "default"},
               "spec": {"hostname": "*", "prefix": "/probe/", "service": "probe.default:8000"}}
    path = "/apis/getambassador.io/{}/namespaces/default/mappings"
    code, _headers, raw = sandbox.request("POST", path.format("v3alpha1"), json.dumps(mapping).encode())
    assert code == 201, raw
    try:
        code, _headers, raw = sandbox.request("GET", path.format("v2") + "/webhook-probe")
        assert code == 200 and json.loads(raw)["spec"]["prefix"] == "/probe/", raw
    finally:
        sandbox.request("DELETE", path.format("v3alpha1") + "/webhook-probe")


def create_sdep_dry_run(sandbox) -> tuple[int, dict]:
    path = "/apis/machinelearning.seldon.io/v1/namespaces/default/seldondeployments?dryRun=All"
    code, _headers, raw = sandbox.request("POST", path, json.dumps(SDEP_UNKNOWN).encode())
    return code, json.loads(raw)


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_teardown_removes_everything_but_the_crds(sandbox, run_playbook):
    run_ok(run_playbook, INSTALL, extra_vars=on_cluster(sandbox))
    webhooks = sandbox.kubectl("get", "validatingwebhookconfigurations", "-o", "name").stdout.split()
    assert "validatingwebhookconfiguration.admissionregistration.k8s.io/seldon-validating-webhook-configuration" \
        in webhooks, webhooks
    run = run_ok(run_playbook, TEARDOWN, extra_vars=on_cluster(sandbox, teardown=True))
    assert run.stats["changed"] > 0
    namespaces, rbac, crds = platform_objects(sandbox)
    assert not namespaces and not rbac, (namespaces, rbac)
    assert len(crds) == expected_crds(sandbox), crds  # CRDs are kept unless asked for
    # no leftover webhook blocks a SeldonDeployment (the operator that served it is gone)
    webhooks = sandbox.kubectl("get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o",
                               "name").stdout.split()
    assert not [w for w in webhooks if "seldon" in w], webhooks
    code, body = create_sdep_dry_run(sandbox)
    assert code == 201, body


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_teardown_with_crds_removes_them_and_is_idempotent(sandbox, run_playbook):
    teardown = on_cluster(sandbox, {"platform_remove_crds": True}, teardown=True)
    run_ok(run_playbook, TEARDOWN, extra_vars=teardown)
    assert platform_objects(sandbox) == ([], [], [])
    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, TEARDOWN, extra_vars=teardown)
    assert again.stats["changed"] == 0
    assert_no_writes(sandbox, mark, "a second teardown")


@pytest.mark.sandbox
@pytest.mark.timeout(900)
def test_reinstall_after_teardown(sandbox, run_playbook):
    """Also leaves the platform installed for the tests that follow."""
    run_ok(run_playbook, INSTALL, extra_vars=on_cluster(sandbox))
    mark = sandbox.audit_mark()
    idempotent = run_ok(run_playbook, INSTALL, extra_vars=on_cluster(sandbox))
    assert idempotent.stats["changed"] == 0, [t["_task"] for t in idempotent.tasks() if t.get("changed")]
    assert_no_writes(sandbox, mark, "the run after a re-install")
    namespaces, _rbac, crds = platform_objects(sandbox)
    assert len(namespaces) == len(expected_namespaces(sandbox)) and len(crds) == expected_crds(sandbox)


@pytest.mark.sandbox
@pytest.mark.timeout(900)
@pytest.mark.emulator_only("fault injection (the emulator's /sandbox/v1/faults)")
def test_emissary_objects_wait_out_the_missing_conversion_ca_bundle(sandbox, run_playbook):
    """Issue 18 defect 6: emissary-apiext is Ready before it has put its CA into the CRDs' conversion webhook; until
    then the API server answers the first getambassador.io apply with a conversion webhook error (500, which the
    client's own retries do not outlast). The role retries that error until the caBundle is there."""
    message = ('conversion webhook for getambassador.io/v3alpha1, Kind=Module failed: Post "https://emissary-apiext.'
               'emissary-system.svc:443/webhooks/crd-convert?timeout=30s": tls: failed to verify certificate: x509: '
               'certificate signed by unknown authority')
    sandbox.clear_faults()
    sandbox._admin("POST", "/sandbox/v1/faults", {
        "path_regex": "^/apis/getambassador\\.io/v3alpha1/namespaces/emissary/modules", "method": "*", "count": 8,
        "status": 500, "message": message})
    try:
        run = run_ok(run_playbook, INSTALL, extra_vars={
            "platform_components": ["ambassador"], "ambassador_module_config": {"diagnostics": {"enabled": False}}})
        left = sandbox.faults()  # a rule is dropped once its count is used up
    finally:
        sandbox.clear_faults()
    assert left == [], left
    assert run.stats.get("failures", 0) == 0
    module = json.loads(sandbox.kubectl("get", "modules.getambassador.io", "ambassador", "-n", "emissary", "-o",
                                        "json").stdout)
    assert module["spec"]["config"] == {"diagnostics": {"enabled": False}}
    sandbox.kubectl("delete", "modules.getambassador.io", "ambassador", "-n", "emissary")  # the default has none
