"""Conformance with the official `kubernetes` Python client: typed APIs, dynamic client, watch."""

from __future__ import annotations

import threading

import pytest
import yaml
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException
from sbx import DATA, MERGE

pytestmark = pytest.mark.sandbox


def _cm(name, **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "x"}), data=data)


def test_typed_core_crud(api, ns):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(ns, _cm("a", k="1"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    got = core.read_namespaced_config_map("a", ns)
    assert got.data == {"k": "1"}
    got.data["k"] = "2"
    updated = core.replace_namespaced_config_map("a", ns, got)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("a", ns, got)  # stale resourceVersion
    assert e.value.status == 409 and "the object has been modified" in e.value.body
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, _cm("a"))
    assert e.value.status == 409 and '"reason":"AlreadyExists"' in e.value.body.replace(" ", "")
    core.patch_namespaced_config_map("a", ns, {"data": {"p": "q"}})
    assert core.read_namespaced_config_map("a", ns).data == {"k": "2", "p": "q"}
    items = core.list_namespaced_config_map(ns, label_selector="app=x").items
    assert [i.metadata.name for i in items] == ["a"]
    core.delete_namespaced_config_map("a", ns)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("a", ns)
    assert e.value.status == 404


def test_typed_apps_and_scale(api, ns):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]))))
    d = apps.create_namespaced_deployment(ns, body)
    assert d.metadata.generation == 1 and d.spec.strategy.type == "RollingUpdate"
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment_scale("web", ns).spec.replicas == 3
    d = apps.read_namespaced_deployment("web", ns)
    assert d.spec.replicas == 3 and d.metadata.generation == 2
    patched = apps.patch_namespaced_deployment("web", ns, {"metadata": {"labels": {"x": "y"}}})
    assert patched.metadata.generation == 2  # metadata-only change keeps generation


def test_invalid_deployment_is_422(api, ns):
    apps = client.AppsV1Api(api)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    with pytest.raises(ApiException) as e:
        apps.create_namespaced_deployment(ns, body)
    assert e.value.status == 422 and "Invalid" in e.value.body


def test_dynamic_client_and_server_side_apply(api, ns):
    dyn = dynamic.DynamicClient(api)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": ns},
                "data": {"a": "1"}}
    obj = cms.server_side_apply(body=manifest, name="ssa", namespace=ns, field_manager="mlops")
    assert obj.data.a == "1"
    assert [m["manager"] for m in obj.metadata.managedFields] == ["mlops"]
    manifest["data"]["a"] = "2"
    obj = cms.server_side_apply(body=manifest, name="ssa", namespace=ns, field_manager="mlops", dry_run="All")
    assert obj.data.a == "2"
    assert cms.get(name="ssa", namespace=ns).data.a == "1"  # dry run stored nothing
    listed = cms.get(namespace=ns, label_selector="")
    assert "ssa" in [i.metadata.name for i in listed.items]
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.namespaced and deploys.name == "deployments"


def test_dynamic_client_crd(sandbox, api, ns):
    dyn = dynamic.DynamicClient(api)
    with open(f"{DATA}/crd.yaml", encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.server_side_apply(body=crd, name=crd["metadata"]["name"], field_manager="test", force_conflicts=True)
    dyn.resources.invalidate_cache() if hasattr(dyn.resources, "invalidate_cache") else None
    dyn = dynamic.DynamicClient(api)
    mds = dyn.resources.get(api_version="example.mlops.io/v1", kind="ModelDeployment")
    obj = mds.create(namespace=ns, body={"apiVersion": "example.mlops.io/v1", "kind": "ModelDeployment",
                                         "metadata": {"name": "m"}, "spec": {"modelUri": "s3://b/m"}})
    assert obj.spec.replicas == 1 and obj.spec.protocol == "seldon"  # schema defaults
    status = mds.status.patch(namespace=ns, name="m", body={"status": {"state": "Available"}},
                              content_type=MERGE)
    assert status.status.state == "Available"


def test_watch_stream(api, ns):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    seen = []

    def consume():
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    core.create_namespaced_config_map(ns, _cm("w1"))
    core.patch_namespaced_config_map("w1", ns, {"data": {"z": "1"}})
    core.delete_namespaced_config_map("w1", ns)
    t.join(15)
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_service_account_token_and_rbac(sandbox, api, ns):
    core = client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="bot")))
    tr = core.create_namespaced_service_account_token("bot", ns, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["api"], expiration_seconds=3600)))
    token = tr.status.token
    bot = client.CoreV1Api(sandbox.api_client(token=token))
    with pytest.raises(ApiException) as e:
        bot.list_namespaced_config_map(ns)
    assert e.value.status == 403
    assert f'User \\"system:serviceaccount:{ns}:bot\\" cannot list resource \\"configmaps\\"' in e.value.body or \
        f'User "system:serviceaccount:{ns}:bot" cannot list resource "configmaps"' in e.value.body
    rbac.create_namespaced_role(ns, client.V1Role(metadata=client.V1ObjectMeta(name="reader"), rules=[
        client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list", "watch"])]))
    rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="bot", namespace=ns)]))
    assert bot.list_namespaced_config_map(ns).items is not None
    with pytest.raises(ApiException) as e:
        bot.create_namespaced_config_map(ns, _cm("nope"))
    assert e.value.status == 403
    authz = client.AuthorizationV1Api(sandbox.api_client(token=token))
    review = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
            namespace=ns, verb="list", resource="configmaps"))))
    assert review.status.allowed is True
    bad = client.CoreV1Api(sandbox.api_client(token="not-a-token"))
    with pytest.raises(ApiException) as e:
        bad.list_namespaced_config_map(ns)
    assert e.value.status == 401
