"""The model_namespace modules and role against the sandbox cluster, through real ansible-playbook runs.

For each module: create, idempotent re-run (changed=false AND zero writes in the API server's audit log), check
mode (zero writes), diff, absent. Secrets never appear in any output, even with -vvv. The RBAC presets are proven
sufficient (every verb they grant works with the ServiceAccount's own token) and minimal (SelfSubjectAccessReview
over a matrix of verbs and resources allows exactly what the preset lists, and real requests outside it get 403).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
import yaml

pytestmark = pytest.mark.sandbox

ACCESS = "AKIAINTEGRATION" + uuid.uuid4().hex[:8].upper()
SECRET = "int-secret/" + uuid.uuid4().hex
ROTATED = "rotated-" + uuid.uuid4().hex
ENV_SECRET = "env-secret-" + uuid.uuid4().hex


def play(*tasks):
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}], sort_keys=False)


def task(title, module, **args):
    return {"name": title, module: args}


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def assert_no_writes(sandbox, mark, what):
    writes = sandbox.writes(mark)
    assert not writes, "%s wrote to the API: %s" % (what, [(w["method"], w["path"]) for w in writes])


def assert_secrets_hidden(run, *values):
    text = run.stdout + run.stderr
    for value in values:
        for form in (value, base64.b64encode(value.encode()).decode()):
            assert form not in text, "a secret value leaked into the output"


def run_ok(run_playbook, playbook, *args, **kwargs):
    run = run_playbook(playbook, *args, **kwargs)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run


@pytest.fixture(scope="module")
def kube(sandbox):
    from kubernetes import client

    api = sandbox.api_client()
    return {"core": client.CoreV1Api(api), "custom": client.CustomObjectsApi(api),
            "ext": client.ApiextensionsV1Api(api), "storage": client.StorageV1Api(api),
            "rbac": client.RbacAuthorizationV1Api(api), "api": api}


def status_of(call, *args, **kwargs):
    from kubernetes.client.exceptions import ApiException

    try:
        call(*args, **kwargs)
        return 200
    except ApiException as exc:
        return exc.status


# -- namespace ----------------------------------------------------------------------------------------------
def test_namespace_lifecycle(sandbox, run_playbook, kube):
    name = unique("ns")
    present = task("ns", "mlops.k8s.namespace", name=name, labels={"team": "ds"},
                   quota={"pods": "10", "requests.memory": "4Gi"},
                   limit_range={"default_request": {"cpu": "100m"}, "default_limit": {"cpu": "1"}})

    mark = sandbox.audit_mark()
    first = run_ok(run_playbook, play(present))
    assert first.task("ns")["changed"] is True
    assert [r["action"] for r in first.task("ns")["results"]] == ["created"] * 3
    assert sandbox.writes(mark), "the first run must write"
    quota = kube["core"].read_namespaced_resource_quota("model-quota", name)
    assert quota.spec.hard == {"pods": "10", "requests.memory": "4Gi"}
    limits = kube["core"].read_namespaced_limit_range("model-limits", name)
    assert limits.spec.limits[0].default_request == {"cpu": "100m"}

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(present))
    assert again.task("ns")["changed"] is False
    assert [r["action"] for r in again.task("ns")["results"]] == ["unchanged"] * 3
    assert_no_writes(sandbox, mark, "the idempotent re-run")

    changed = dict(present)
    changed["mlops.k8s.namespace"] = dict(present["mlops.k8s.namespace"], labels={"team": "ml"})
    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(changed), "--check", "--diff")
    result = check.task("ns")
    assert result["changed"] is True
    assert_no_writes(sandbox, mark, "check mode")
    assert kube["core"].read_namespace(name).metadata.labels["team"] == "ds"
    ns_diff = result["diff"][0]
    assert ns_diff["before"]["metadata"]["labels"]["team"] == "ds"
    assert ns_diff["after"]["metadata"]["labels"]["team"] == "ml"

    # an empty quota / limit_range removes what the module made; leaving them out leaves them alone
    removal = task("ns", "mlops.k8s.namespace", name=name, labels={"team": "ds"}, quota={}, limit_range={})
    removed = run_ok(run_playbook, play(removal)).task("ns")
    assert [(r["kind"], r["action"]) for r in removed["results"]] == [
        ("Namespace", "unchanged"), ("ResourceQuota", "deleted"), ("LimitRange", "deleted")]
    assert status_of(kube["core"].read_namespaced_resource_quota, "model-quota", name) == 404
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, play(removal)).task("ns")["changed"] is False
    assert_no_writes(sandbox, mark, "removing an absent quota")

    bad = task("ns", "mlops.k8s.namespace", name=name, quota={"requests.cpu": "four"})
    mark = sandbox.audit_mark()
    failed = run_playbook(play(bad))
    assert failed.rc != 0
    assert "quota.requests.cpu" in failed.task("ns")["msg"] and "Traceback" not in failed.stdout
    assert_no_writes(sandbox, mark, "a run with a bad quota")

    absent = task("ns", "mlops.k8s.namespace", name=name, state="absent", wait_timeout=60)
    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(absent), "--check")
    assert check.task("ns")["changed"] is True
    assert_no_writes(sandbox, mark, "check mode delete")
    gone = run_ok(run_playbook, play(absent))
    assert gone.task("ns")["results"][0]["action"] == "deleted"
    # the task returned only once the namespace was really gone
    assert status_of(kube["core"].read_namespace, name) == 404
    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(absent))
    assert again.task("ns")["changed"] is False
    assert_no_writes(sandbox, mark, "deleting an absent namespace")


# -- storage_secret -----------------------------------------------------------------------------------------
def _secret_data(kube, name, namespace):
    data = kube["core"].read_namespaced_secret(name, namespace).data or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_storage_secret_lifecycle_never_shows_a_value(sandbox, run_playbook, kube):
    ns = unique("sec")
    run_ok(run_playbook, play(task("ns", "mlops.k8s.namespace", name=ns)))
    args = {"name": "s3-secret", "namespace": ns, "format": "rclone", "provider": "Minio",
            "endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1",
            "access_key": ACCESS, "secret_key": SECRET}
    secret = task("secret", "mlops.k8s.storage_secret", **args)

    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(secret), "--check", "--diff", "-vvv")
    assert check.task("secret")["changed"] is True
    assert_no_writes(sandbox, mark, "check mode")
    assert status_of(kube["core"].read_namespaced_secret, "s3-secret", ns) == 404
    assert_secrets_hidden(check, ACCESS, SECRET)

    created = run_ok(run_playbook, play(secret), "--diff", "-vvv")
    result = created.task("secret")
    assert result["changed"] is True and result["operation"] == "created"
    assert result["key_names"] == sorted([
        "RCLONE_CONFIG_S3_TYPE", "RCLONE_CONFIG_S3_PROVIDER", "RCLONE_CONFIG_S3_ENV_AUTH",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID", "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "RCLONE_CONFIG_S3_ENDPOINT",
        "RCLONE_CONFIG_S3_REGION"])
    assert_secrets_hidden(created, ACCESS, SECRET)
    stored = _secret_data(kube, "s3-secret", ns)
    assert stored["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"] == SECRET
    assert stored["RCLONE_CONFIG_S3_ACCESS_KEY_ID"] == ACCESS
    assert stored["RCLONE_CONFIG_S3_TYPE"] == "s3" and stored["RCLONE_CONFIG_S3_ENV_AUTH"] == "false"

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(secret), "--diff", "-vvv")
    assert again.task("secret")["changed"] is False
    assert_no_writes(sandbox, mark, "the idempotent re-run")
    assert_secrets_hidden(again, ACCESS, SECRET)

    rotated = task("secret", "mlops.k8s.storage_secret", **{**args, "secret_key": ROTATED})
    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(rotated), "--check", "--diff", "-vvv")
    result = check.task("secret")
    assert result["changed"] is True
    assert_no_writes(sandbox, mark, "check mode of a rotation")
    # the diff shows key names with one mask, and nothing tells which value changed
    assert result["diff"]["before"]["data"] == result["diff"]["after"]["data"]
    assert set(result["diff"]["after"]["data"].values()) == {"********"}
    assert_secrets_hidden(check, ACCESS, SECRET, ROTATED)
    done = run_ok(run_playbook, play(rotated), "--diff", "-vvv")
    assert done.task("secret")["changed"] is True
    assert_secrets_hidden(done, ACCESS, SECRET, ROTATED)
    assert _secret_data(kube, "s3-secret", ns)["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"] == ROTATED

    # keys from the controller's environment; the AWS format
    env_task = task("secret", "mlops.k8s.storage_secret", name="aws-env", namespace=ns, format="aws")
    env = {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_REGION": "eu-west-3",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9999", "AWS_EC2_METADATA_DISABLED": "true"}
    from_env = run_ok(run_playbook, play(env_task), "--diff", "-vvv", env=env)
    assert from_env.task("secret")["credentials_source"] == "env"
    assert_secrets_hidden(from_env, ACCESS, ENV_SECRET)
    assert _secret_data(kube, "aws-env", ns) == {
        "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_ENDPOINT_URL": "http://127.0.0.1:9999",
        "USE_SSL": "false", "AWS_DEFAULT_REGION": "eu-west-3"}

    # env_auth: the keys stored before are removed
    irsa = task("secret", "mlops.k8s.storage_secret", name="s3-secret", namespace=ns, env_auth=True,
                region="us-east-1", endpoint_url="http://127.0.0.1:9000", provider="Minio")
    switched = run_ok(run_playbook, play(irsa))
    assert switched.task("secret")["changed"] is True
    stored = _secret_data(kube, "s3-secret", ns)
    assert stored["RCLONE_CONFIG_S3_ENV_AUTH"] == "true"
    assert "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY" not in stored and "RCLONE_CONFIG_S3_ACCESS_KEY_ID" not in stored

    # no credentials anywhere: a clear failure before any write
    none = task("secret", "mlops.k8s.storage_secret", name="nothing", namespace=ns)
    mark = sandbox.audit_mark()
    failed = run_playbook(play(none), env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                                           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"})
    assert failed.rc != 0 and "no S3 credentials" in failed.task("secret")["msg"]
    assert_no_writes(sandbox, mark, "a run without credentials")

    absent = task("secret", "mlops.k8s.storage_secret", name="s3-secret", namespace=ns, state="absent")
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(absent), "--check")
    assert_no_writes(sandbox, mark, "check mode delete")
    gone = run_ok(run_playbook, play(absent), "--diff", "-vvv")
    assert gone.task("secret")["operation"] == "deleted"
    assert_secrets_hidden(gone, ACCESS, SECRET, ROTATED)
    assert status_of(kube["core"].read_namespaced_secret, "s3-secret", ns) == 404
    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(absent))
    assert again.task("secret")["changed"] is False
    assert_no_writes(sandbox, mark, "deleting an absent secret")


# -- service_account ----------------------------------------------------------------------------------------
def _crd(group, kind, plural, namespaced=True):
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (plural, group)},
        "spec": {"group": group, "scope": "Namespaced" if namespaced else "Cluster",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                 "versions": [{"name": "v1alpha1" if group == "argoproj.io" else "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]},
    }


CRDS = [
    ("machinelearning.seldon.io", "SeldonDeployment", "seldondeployments"),
    ("argoproj.io", "Workflow", "workflows"),
    ("argoproj.io", "WorkflowTemplate", "workflowtemplates"),
    ("argoproj.io", "WorkflowTaskResult", "workflowtaskresults"),
]


@pytest.fixture(scope="module")
def crds(kube):
    """Minimal SeldonDeployment and Argo CRDs (kept if the platform roles' tests made the real ones).

    The ones made here are deleted afterwards, so that a later install of the real CRDs by the platform
    roles does not meet fields owned by this test's client (a server-side apply conflict, as on a cluster).
    """
    from kubernetes.client.exceptions import ApiException

    created = []
    for group, kind, plural in CRDS:
        try:
            kube["ext"].create_custom_resource_definition(_crd(group, kind, plural))
            created.append("%s.%s" % (plural, group))
        except ApiException as exc:
            if exc.status != 409:
                raise
    deadline = time.monotonic() + 30
    while True:
        served = [status_of(kube["custom"].list_cluster_custom_object, g, "v1alpha1" if g == "argoproj.io" else "v1",
                            p) for g, _k, p in CRDS]
        if all(s == 200 for s in served):
            break
        if time.monotonic() > deadline:
            pytest.fail("the CRDs were not served in time")
        time.sleep(0.2)
    yield
    for name in created:
        kube["ext"].delete_custom_resource_definition(name)
    deadline = time.monotonic() + 30
    while any(status_of(kube["ext"].read_custom_resource_definition, name) != 404 for name in created):
        if time.monotonic() > deadline:
            pytest.fail("the test CRDs were not deleted in time")
        time.sleep(0.2)


def sa_token(kube, namespace, name):
    from kubernetes import client

    body = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    return kube["core"].create_namespaced_service_account_token(name, namespace, body).status.token


def as_sa(sandbox, token):
    from kubernetes import client

    api = sandbox.api_client(token=token)
    return {"core": client.CoreV1Api(api), "custom": client.CustomObjectsApi(api),
            "authz": client.AuthorizationV1Api(api), "rbac": client.RbacAuthorizationV1Api(api)}


# (group, resource, subresource) universe the matrix is checked over
UNIVERSE = [
    ("machinelearning.seldon.io", "seldondeployments", ""), ("machinelearning.seldon.io", "seldondeployments",
                                                             "status"),
    ("argoproj.io", "workflows", ""), ("argoproj.io", "workflowtemplates", ""), ("argoproj.io", "workflowtaskresults",
                                                                                 ""),
    ("argoproj.io", "cronworkflows", ""), ("", "pods", ""), ("", "pods", "log"), ("", "pods", "exec"),
    ("", "secrets", ""), ("", "configmaps", ""), ("", "serviceaccounts", "token"), ("", "persistentvolumeclaims", ""),
    ("apps", "deployments", ""), ("rbac.authorization.k8s.io", "roles", ""),
    ("rbac.authorization.k8s.io", "rolebindings", ""),
]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "escalate", "bind"]


def allowed_by(rules):
    out = set()
    for rule in rules:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                resource, _sep, sub = res.partition("/")
                for verb in rule["verbs"]:
                    out.add((group, resource, sub, verb))
    return out


def ssar(authz, namespace, target):
    from kubernetes import client

    group, resource, sub, verb = target
    body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(namespace=namespace, group=group, resource=resource,
                                                        subresource=sub or None, verb=verb)))
    return authz.create_self_subject_access_review(body).status.allowed


@pytest.mark.parametrize("preset", ["pipeline", "seldon-deployer", "argo-workflow"])
def test_service_account_preset_is_minimal_on_the_cluster(sandbox, run_playbook, kube, crds, preset):
    ns = unique("rbac")
    sa = task("sa", "mlops.k8s.service_account", name="runner", namespace=ns, preset=preset,
              image_pull_secrets=["regcred"])
    first = run_ok(run_playbook, play(task("ns", "mlops.k8s.namespace", name=ns), sa))
    rules = first.task("sa")["rules"]
    assert "*" not in repr(rules)
    assert [r["action"] for r in first.task("sa")["results"]] == ["created"] * 3
    role = kube["rbac"].read_namespaced_role("runner", ns)
    assert len(role.rules) == len(rules)

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(sa))
    assert again.task("sa")["changed"] is False
    assert_no_writes(sandbox, mark, "the idempotent re-run")

    me = as_sa(sandbox, sa_token(kube, ns, "runner"))
    granted = allowed_by(rules)
    wrong = []
    for group, resource, sub in UNIVERSE:
        for verb in VERBS:
            want = (group, resource, sub, verb) in granted
            if ssar(me["authz"], ns, (group, resource, sub, verb)) != want:
                wrong.append((group, resource, sub, verb, want))
    assert not wrong, "SelfSubjectAccessReview disagrees with the preset (group, resource, sub, verb, expected): %s" % (
        wrong,)
    # nothing at all in another namespace
    other = unique("other")
    kube["core"].create_namespace({"metadata": {"name": other}})
    assert not ssar(me["authz"], other, sorted(granted)[0])


def test_service_account_tokens_act_within_the_preset(sandbox, run_playbook, kube, crds):
    ns = unique("act")
    tasks = [task("ns", "mlops.k8s.namespace", name=ns)]
    for preset in ("pipeline", "seldon-deployer", "argo-workflow"):
        tasks.append(task(preset, "mlops.k8s.service_account", name=preset, namespace=ns, preset=preset))
    run_ok(run_playbook, play(*tasks))
    kube["custom"].create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", ns, "workflowtemplates",
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "train"}, "spec": {}})

    sdep = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "iris"},
            "spec": {"predictors": [{"name": "default"}]}}
    seldon_group = ("machinelearning.seldon.io", "v1", ns, "seldondeployments")
    for who in ("seldon-deployer", "pipeline"):
        me = as_sa(sandbox, sa_token(kube, ns, who))
        c = me["custom"]
        c.create_namespaced_custom_object(*seldon_group, sdep)
        assert c.get_namespaced_custom_object(*seldon_group, "iris")["metadata"]["name"] == "iris"
        assert len(c.list_namespaced_custom_object(*seldon_group)["items"]) == 1
        c.patch_namespaced_custom_object(*seldon_group, "iris", {"metadata": {"labels": {"v": "2"}}})
        c.get_namespaced_custom_object_status(*seldon_group, "iris")
        # outside the preset
        assert status_of(c.patch_namespaced_custom_object_status, *seldon_group, "iris",
                         {"status": {"state": "Available"}}) == 403
        assert status_of(c.delete_collection_namespaced_custom_object, *seldon_group) == 403
        assert status_of(me["core"].list_namespaced_secret, ns) == 403
        assert status_of(me["core"].delete_namespaced_pod, "x", ns) == 403
        assert status_of(me["rbac"].create_namespaced_role, ns,
                         {"metadata": {"name": "mine"}, "rules": []}) == 403
        c.delete_namespaced_custom_object(*seldon_group, "iris")

    argo = ("argoproj.io", "v1alpha1", ns)
    result = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult", "metadata": {"name": "step-1"}}
    for who, name in (("argo-workflow", "step-1"), ("pipeline", "step-2")):
        me = as_sa(sandbox, sa_token(kube, ns, who))
        body = dict(result, metadata={"name": name})
        me["custom"].create_namespaced_custom_object(*argo, "workflowtaskresults", body)
        done = {"metadata": {"labels": {"workflows.argoproj.io/report-outputs-completed": "true"}}}
        me["custom"].patch_namespaced_custom_object(*argo, "workflowtaskresults", name, done)
        assert status_of(me["custom"].delete_namespaced_custom_object, *argo, "workflowtaskresults", name) == 403

    executor = as_sa(sandbox, sa_token(kube, ns, "argo-workflow"))
    assert status_of(executor["custom"].create_namespaced_custom_object, *argo, "workflows",
                     {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}}) == 403
    assert status_of(executor["core"].read_namespaced_pod, "any", ns) == 403
    assert status_of(executor["custom"].list_namespaced_custom_object, *seldon_group) == 403

    pipeline = as_sa(sandbox, sa_token(kube, ns, "pipeline"))
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "train-deploy"},
          "spec": {"workflowTemplateRef": {"name": "train"}}}
    pipeline["custom"].create_namespaced_custom_object(*argo, "workflows", wf)
    pipeline["custom"].get_namespaced_custom_object(*argo, "workflows", "train-deploy")
    pipeline["custom"].list_namespaced_custom_object(*argo, "workflows")
    pipeline["custom"].get_namespaced_custom_object(*argo, "workflowtemplates", "train")
    assert status_of(pipeline["custom"].delete_namespaced_custom_object, *argo, "workflows", "train-deploy") == 403
    assert status_of(pipeline["custom"].create_namespaced_custom_object, *argo, "workflowtemplates",
                     {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
                      "metadata": {"name": "x"}}) == 403
    pipeline["core"].list_namespaced_pod(ns)
    # allowed verbs on a pod that does not exist answer 404, not 403
    assert status_of(pipeline["core"].read_namespaced_pod, "missing", ns) == 404
    assert status_of(pipeline["core"].read_namespaced_pod_log, "missing", ns) == 404
    assert status_of(pipeline["core"].create_namespaced_pod, ns,
                     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}) == 403


def test_service_account_check_diff_scope_switch_and_absent(sandbox, run_playbook, kube):
    ns = unique("sa")
    run_ok(run_playbook, play(task("ns", "mlops.k8s.namespace", name=ns)))
    sa = task("sa", "mlops.k8s.service_account", name="deployer", namespace=ns, preset="seldon-deployer")
    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(sa), "--check", "--diff")
    assert check.task("sa")["changed"] is True
    assert len(check.task("sa")["diff"]) == 3
    assert_no_writes(sandbox, mark, "check mode")
    run_ok(run_playbook, play(sa))

    extra = task("sa", "mlops.k8s.service_account", name="deployer", namespace=ns, preset="seldon-deployer",
                 rules=[{"resources": ["configmaps"], "verbs": ["get"]}])
    diff = run_ok(run_playbook, play(extra), "--diff").task("sa")
    assert diff["changed"] is True
    role_diff = next(d for d in diff["diff"] if d["after"].get("kind") == "Role")
    assert len(role_diff["after"]["rules"]) == len(role_diff["before"]["rules"]) + 1

    bad = task("sa", "mlops.k8s.service_account", name="deployer", namespace=ns,
               rules=[{"resources": ["*"], "verbs": ["get"]}])
    mark = sandbox.audit_mark()
    failed = run_playbook(play(bad))
    assert failed.rc != 0 and "wildcards are refused" in failed.task("sa")["msg"]
    assert_no_writes(sandbox, mark, "a run with a wildcard rule")

    wide = task("sa", "mlops.k8s.service_account", name="deployer", namespace=ns, preset="seldon-deployer",
                cluster_wide=True)
    switched = run_ok(run_playbook, play(wide)).task("sa")
    assert switched["role"] == {"kind": "ClusterRole", "name": "%s:deployer" % ns}
    assert status_of(kube["rbac"].read_namespaced_role, "deployer", ns) == 404
    assert status_of(kube["rbac"].read_cluster_role, "%s:deployer" % ns) == 200

    absent = task("sa", "mlops.k8s.service_account", name="deployer", namespace=ns, state="absent")
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(absent), "--check")
    assert_no_writes(sandbox, mark, "check mode delete")
    run_ok(run_playbook, play(absent))
    assert status_of(kube["core"].read_namespaced_service_account, "deployer", ns) == 404
    assert status_of(kube["rbac"].read_cluster_role, "%s:deployer" % ns) == 404
    assert status_of(kube["rbac"].read_cluster_role_binding, "%s:deployer" % ns) == 404
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, play(absent)).task("sa")["changed"] is False
    assert_no_writes(sandbox, mark, "removing an absent account")


# -- pvc ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def storage_classes(kube):
    from kubernetes.client.exceptions import ApiException

    names = {"expandable": unique("sc-grow"), "fixed": unique("sc-fixed"), "wffc": unique("sc-wffc")}
    specs = {
        "expandable": {"allowVolumeExpansion": True, "volumeBindingMode": "Immediate"},
        "fixed": {"volumeBindingMode": "Immediate"},
        "wffc": {"volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True},
    }
    for key, name in names.items():
        body = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                "provisioner": "sandbox.local/hostpath", **specs[key]}
        try:
            kube["storage"].create_storage_class(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
    return names


def bind_soon(kube, name, namespace, delay=1.0, timeout=60):
    """Act as the volume controller when the sandbox has none: once the claim exists, mark it Bound after ``delay``."""
    from kubernetes.client.exceptions import ApiException

    def run():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pvc = kube["core"].read_namespaced_persistent_volume_claim(name, namespace)
            except ApiException:
                time.sleep(0.2)
                continue
            time.sleep(delay)
            if (pvc.status.phase if pvc.status else None) != "Bound":
                kube["core"].patch_namespaced_persistent_volume_claim_status(
                    name, namespace, {"status": {"phase": "Bound", "accessModes": pvc.spec.access_modes,
                                                 "capacity": {"storage": pvc.spec.resources.requests["storage"]}}})
            return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_pvc_lifecycle(sandbox, run_playbook, kube, storage_classes):
    ns = unique("pvc")
    run_ok(run_playbook, play(task("ns", "mlops.k8s.namespace", name=ns)))
    args = {"name": "model-parameters-pvc", "namespace": ns, "size": "2Gi", "access_modes": ["RWX"],
            "storage_class": storage_classes["expandable"]}
    pvc = task("pvc", "mlops.k8s.pvc", **args, wait_bound=True, wait_timeout=30)

    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, play(pvc), "--check", "--diff")
    assert check.task("pvc")["changed"] is True and check.task("pvc")["diff"]
    assert_no_writes(sandbox, mark, "check mode")

    # the sandbox may bind it itself; if not, a stand-in controller does after one second
    binder = bind_soon(kube, "model-parameters-pvc", ns)
    created = run_ok(run_playbook, play(pvc)).task("pvc")
    binder.join()
    assert created["changed"] is True and created["bound"] is True and created["phase"] == "Bound"
    assert created["binding_mode"] == "Immediate"
    live = kube["core"].read_namespaced_persistent_volume_claim("model-parameters-pvc", ns)
    assert live.spec.access_modes == ["ReadWriteMany"]

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(pvc)).task("pvc")
    assert again["changed"] is False
    assert_no_writes(sandbox, mark, "the idempotent re-run")
    same = task("pvc", "mlops.k8s.pvc", **{**args, "size": "2048Mi"})
    assert run_ok(run_playbook, play(same)).task("pvc")["changed"] is False, "2048Mi is 2Gi"
    assert_no_writes(sandbox, mark, "a re-run with the same size in Mi")

    for smaller in ("1Gi", "2047Mi", "2G"):
        shrink = task("pvc", "mlops.k8s.pvc", **{**args, "size": smaller})
        failed = run_playbook(play(shrink))
        assert failed.rc != 0
        assert "refusing to shrink" in failed.task("pvc")["msg"] and "Traceback" not in failed.stdout
    immutable = task("pvc", "mlops.k8s.pvc", **{**args, "access_modes": ["ReadWriteOnce"]})
    assert "cannot change once a claim exists" in run_playbook(play(immutable)).task("pvc")["msg"]
    assert_no_writes(sandbox, mark, "refused changes")

    grow = task("pvc", "mlops.k8s.pvc", **{**args, "size": "3Gi"})
    grown = run_ok(run_playbook, play(grow), "--diff").task("pvc")
    assert grown["changed"] is True
    assert grown["diff"][0]["after"]["spec"]["resources"]["requests"]["storage"] == "3Gi"

    fixed = task("pvc", "mlops.k8s.pvc", name="fixed", namespace=ns, size="1Gi",
                 storage_class=storage_classes["fixed"])
    run_ok(run_playbook, play(fixed))
    mark = sandbox.audit_mark()
    failed = run_playbook(play(task("pvc", "mlops.k8s.pvc", name="fixed", namespace=ns, size="2Gi",
                                    storage_class=storage_classes["fixed"])))
    assert failed.rc != 0 and "does not allow volume expansion" in failed.task("pvc")["msg"]
    assert_no_writes(sandbox, mark, "a refused expansion")

    # WaitForFirstConsumer: reported at once, no silent timeout
    wffc = task("pvc", "mlops.k8s.pvc", name="lazy", namespace=ns, size="1Gi",
                storage_class=storage_classes["wffc"], wait_bound=True, wait_timeout=120)
    started = time.monotonic()
    lazy = run_ok(run_playbook, play(wffc)).task("pvc")
    assert time.monotonic() - started < 60
    assert lazy["binding_mode"] == "WaitForFirstConsumer" and lazy["bound"] is False
    assert "WaitForFirstConsumer" in lazy["msg"] and "pod" in lazy["msg"]
    assert any("WaitForFirstConsumer" in w for w in lazy.get("warnings", []))

    absent = task("pvc", "mlops.k8s.pvc", name="model-parameters-pvc", namespace=ns, state="absent", wait=True,
                  wait_timeout=30)
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(absent), "--check")
    assert_no_writes(sandbox, mark, "check mode delete")
    assert run_ok(run_playbook, play(absent)).task("pvc")["changed"] is True
    assert status_of(kube["core"].read_namespaced_persistent_volume_claim, "model-parameters-pvc", ns) == 404
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, play(absent)).task("pvc")["changed"] is False
    assert_no_writes(sandbox, mark, "deleting an absent claim")


# -- the role -----------------------------------------------------------------------------------------------
def role_play(variables):
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "roles": [
        {"role": "mlops.k8s.model_namespace", "vars": variables}]}], sort_keys=False)


def test_model_namespace_role(sandbox, run_playbook, kube, storage_classes):
    ns = unique("team")
    variables = {
        "model_namespace_name": ns,
        "model_namespace_labels": {"team": "iris"},
        "model_namespace_quota": {"pods": "20", "requests.memory": "8Gi"},
        "model_namespace_limit_range": {"default_request": {"cpu": "100m", "memory": "128Mi"}},
        "model_namespace_storage_secrets": [
            {"name": "s3-secret", "format": "rclone", "provider": "Minio", "endpoint_url": "http://127.0.0.1:9000",
             "access_key": ACCESS, "secret_key": SECRET},
            {"name": "seldon-init-container-secret", "format": "aws", "endpoint_url": "http://127.0.0.1:9000",
             "access_key": ACCESS, "secret_key": SECRET},
        ],
        "model_namespace_service_accounts": [{"name": "tempo-pipeline", "preset": "pipeline"},
                                             {"name": "workflow", "preset": "argo-workflow"}],
        "model_namespace_pvcs": [{"name": "model-parameters-pvc", "size": "2Gi", "access_modes": ["ReadWriteMany"],
                                  "storage_class": storage_classes["expandable"]}],
    }
    mark = sandbox.audit_mark()
    check = run_ok(run_playbook, role_play(variables), "--check", "-vvv")
    assert_no_writes(sandbox, mark, "the role in check mode")
    assert_secrets_hidden(check, ACCESS, SECRET)

    first = run_ok(run_playbook, role_play(variables), "--diff", "-vvv")
    assert first.stats["changed"] >= 4 and first.stats["failures"] == 0
    assert_secrets_hidden(first, ACCESS, SECRET)
    assert kube["core"].read_namespaced_secret("s3-secret", ns).data
    assert kube["rbac"].read_namespaced_role_binding("tempo-pipeline", ns).subjects[0].name == "tempo-pipeline"
    assert kube["core"].read_namespaced_persistent_volume_claim("model-parameters-pvc", ns).spec.access_modes == [
        "ReadWriteMany"]

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, role_play(variables), "-vvv")
    assert again.stats["changed"] == 0, [t["_task"] for t in again.tasks() if t.get("changed")]
    assert_no_writes(sandbox, mark, "the idempotent re-run of the role")
    assert_secrets_hidden(again, ACCESS, SECRET)

    absent = dict(variables, model_namespace_state="absent")
    gone = run_ok(run_playbook, role_play(absent), "-vvv")
    assert gone.stats["changed"] >= 1
    assert_secrets_hidden(gone, ACCESS, SECRET)
    assert status_of(kube["core"].read_namespace, ns) == 404
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, role_play(absent)).stats["changed"] == 0
    assert_no_writes(sandbox, mark, "removing an absent namespace with the role")


def test_role_argument_spec_refuses_bad_input(sandbox, run_playbook):
    mark = sandbox.audit_mark()
    failed = run_playbook(role_play({"model_namespace_name": "x", "model_namespace_pvcs": [{"name": "no-size"}]}))
    assert failed.rc != 0
    assert "size" in failed.stdout
    assert_no_writes(sandbox, mark, "a role run with invalid variables")
