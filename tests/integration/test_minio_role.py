"""The mlops.k8s.minio role against the sandbox, whose kubelet runs the pinned quay.io/minio/minio image as a
real local S3 server (sandbox/objectstore.py) reached through the Service's nodePort on 127.0.0.1
(sandbox/gateway/nodeports.py): install with a bucket, upload a model to it through the role's endpoint facts,
a second run changes nothing, state absent removes it all, and the generated credentials never appear in any
output."""

from __future__ import annotations

import base64
import importlib.util
import pathlib
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("scan_secrets", REPO / "hack" / "scan_secrets.py")
scan_secrets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scan_secrets)

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.flow("the minio role's own flow over plain objects and the S3 server the sandbox runs for the "
                     "MinIO image on both planes"),
]


def _role_play(ns: str, state: str = "present", upload: str | None = None) -> list[dict]:
    tasks: list[dict] = [{"name": "MinIO", "ansible.builtin.include_role": {"name": "mlops.k8s.minio"}}]
    if upload:
        tasks.append({"name": "Upload a model to MinIO", "mlops.k8s.s3_artifact": {
            "src": upload, "bucket": "models", "prefix": "iris",
            "endpoint_url": "{{ minio_s3_auth.endpoint_url }}", "access_key": "{{ minio_s3_auth.access_key }}",
            "secret_key": "{{ minio_s3_auth.secret_key }}", "region": "{{ minio_s3_auth.region }}"},
            "no_log": True, "register": "upload"})
        tasks.append({"name": "Report the upload", "ansible.builtin.debug": {
            "msg": "{{ {'uri': upload.model_uri, 'uploaded': upload.uploaded, 'endpoint': minio_external_endpoint_url,"
                   " 'cluster': minio_endpoint_url, 'secret': minio_credentials_secret_name} }}"}})
    return [{"hosts": "localhost", "gather_facts": False,
             "vars": {"minio_namespace": ns, "minio_state": state, "minio_service_type": "NodePort",
                      "minio_buckets": ["models"], "minio_storage_size": "1Gi", "minio_wait_timeout": 60},
             "tasks": tasks}]


def _secret_values(core, ns: str) -> list[str]:
    data = core.read_namespaced_secret("minio-credentials", ns).data
    return [base64.b64decode(data[k]).decode() for k in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")]


def _assert_hidden(run, values, sandbox_dir=None) -> None:
    """hack/scan_secrets.py over the run's output (and the sandbox's logs: the MinIO pod's included): neither
    credential, in clear or base64 at any alignment."""
    texts = [("stdout", run.stdout), ("stderr", run.stderr)]
    if sandbox_dir is not None:
        texts += [(str(p), p.read_text(errors="replace")) for p in pathlib.Path(sandbox_dir).rglob("*.log")]
    findings = scan_secrets.scan(texts, {f"minio-{i}": v for i, v in enumerate(values)})
    assert findings == [], "a MinIO credential leaked: %s" % [(f["source"], f["line"], f["form"]) for f in findings]


def test_minio_role_install_upload_idempotent_absent(sandbox, run_playbook, tmp_path):
    import boto3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(sandbox.api_client())
    ns = "minio-" + uuid.uuid4().hex[:6]
    model = tmp_path / "iris"
    model.mkdir()
    (model / "model.joblib").write_bytes(b"not really a model " + uuid.uuid4().bytes)

    # check mode on a cluster without it: succeeds and writes nothing
    mark = sandbox.audit_mark()
    dry = run_playbook(_role_play(ns), "--check")
    assert dry.rc == 0, dry.stdout[-4000:] + dry.stderr[-3000:]
    writes = sandbox.writes(mark)
    assert writes == [], [(w["method"], w["path"]) for w in writes]

    first = run_playbook(_role_play(ns, upload=str(model)))
    assert first.rc == 0, first.stdout[-4000:] + first.stderr[-3000:]
    report = first.task("Report the upload")["msg"]
    assert report["uri"] == "s3://models/iris"
    assert report["uploaded"] == ["iris/model.joblib"]
    assert report["cluster"] == f"http://minio.{ns}.svc.cluster.local:9000"
    assert report["secret"] == "minio-credentials"
    assert first.task("mlops.k8s.minio : Create the MinIO buckets")["changed"] is True
    user, password = _secret_values(core, ns)
    assert len(password) == 40
    _assert_hidden(first, [user, password])

    # the object is really in the server behind the Service's nodePort
    s3 = boto3.client("s3", endpoint_url=report["endpoint"], aws_access_key_id=user, aws_secret_access_key=password,
                      region_name="us-east-1")
    body = s3.get_object(Bucket="models", Key="iris/model.joblib")["Body"].read()
    assert body == (model / "model.joblib").read_bytes()

    # second run: nothing changes, the generated credentials are kept, still never printed (even with -vvv --diff)
    second = run_playbook(_role_play(ns), "-vvv", "--diff")
    assert second.rc == 0, second.stdout[-4000:] + second.stderr[-3000:]
    assert second.stats["changed"] == 0, [t["_task"] for t in second.tasks() if t.get("changed")]
    assert _secret_values(core, ns) == [user, password]
    _assert_hidden(second, [user, password], sandbox.dir)

    # check mode of absent writes nothing; absent removes everything
    gone = run_playbook(_role_play(ns, state="absent"))
    assert gone.rc == 0, gone.stdout[-4000:] + gone.stderr[-3000:]
    with pytest.raises(ApiException) as err:
        core.read_namespace(ns)
    assert err.value.status == 404
    # and the server behind the nodePort has stopped answering
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            s3.list_buckets()
        except Exception:  # noqa: BLE001 - any connection error means the listener or server is gone
            break
        time.sleep(0.2)
    else:
        pytest.fail("the MinIO server still answers after minio_state: absent")


def test_minio_role_render_writes_no_secret(run_playbook, tmp_path):
    import yaml

    out = tmp_path / "rendered"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "Render", "ansible.builtin.include_role": {
        "name": "mlops.k8s.minio", "tasks_from": "render"}, "vars": {"minio_render_dir": str(out)}}]}]
    run = run_playbook(play)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["00-namespace.yaml", "01-storage.yaml", "02-deployment.yaml", "03-service.yaml"]
    docs = [d for p in sorted(out.iterdir()) for d in yaml.safe_load_all(p.read_text()) if d]
    assert [d["kind"] for d in docs] == ["Namespace", "PersistentVolumeClaim", "Deployment", "Service"]
    container = docs[2]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "quay.io/minio/minio:RELEASE.2024-05-10T01-41-38Z"
    assert container["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"


def test_minio_role_refuses_buckets_without_a_controller_url(sandbox, run_playbook):
    mark = sandbox.audit_mark()
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"minio_namespace": "minio-" + uuid.uuid4().hex[:6], "minio_buckets": ["models"]},
             "tasks": [{"name": "MinIO", "ansible.builtin.include_role": {"name": "mlops.k8s.minio"}}]}]
    run = run_playbook(play)
    assert run.rc != 0
    assert "minio_buckets need minio_external_url or a NodePort/LoadBalancer Service" in run.stdout
    assert sandbox.writes(mark) == []
