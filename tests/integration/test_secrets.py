"""No secret value in the output of a deploy: playbooks/deploy_model.yml (model_namespace + model_deployment, the
path `make demo` takes) run with -vvv --diff, its output, Ansible's log file and the sandbox's logs scanned by
hack/scan_secrets.py for every secret the run used (the S3 secret key and session token, the storage Secret's
values, the kubeconfig's token), in clear and base64 at any alignment.

The scanner itself is checked first on text that holds the secrets (as is, inside the base64 of a Secret's rclone
config, URL-safe), and against the storage Secret as the API returns it: the scan would see a leak.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import uuid

import pytest
import yaml
from deploy_harness import DEPLOY, REPO, base_env, install_platform, ok, run, train

SCANNER = REPO / "hack" / "scan_secrets.py"
spec = importlib.util.spec_from_file_location("scan_secrets", SCANNER)
scan_secrets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scan_secrets)

NAMESPACE = "secrets-%s" % uuid.uuid4().hex[:6]


# -- the scanner ---------------------------------------------------------------------------------------------
def test_scanner_finds_a_secret_in_clear_and_in_base64_at_any_alignment():
    secret = "s3cr3t-" + uuid.uuid4().hex
    for prefix in ("", "a", "ab", "abc"):
        blob = "[s3]\ntype = s3\n%ssecret_access_key = %s\n" % (prefix, secret)
        encoded = base64.b64encode(blob.encode()).decode()
        for text, form in ((blob, "clear"), (encoded, "base64"), (json.dumps({"data": {"k": encoded}}), "base64"),
                           (base64.urlsafe_b64encode(blob.encode()).decode(), "base64")):
            findings = scan_secrets.scan([("t", text)], {"key": secret})
            assert [f["form"].split("+")[0].replace("url", "") for f in findings] == [form], (prefix, text)
    assert scan_secrets.scan([("t", "nothing to see " + secret[:-1] + "x")], {"key": secret}) == []


def test_scanner_cli_reads_a_kubeconfig_and_exits_1_without_printing_the_value(tmp_path):
    token = "tok-" + uuid.uuid4().hex
    env_value = "exec-" + uuid.uuid4().hex
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"users": [
        {"name": "a", "user": {"token": token}},
        {"name": "b", "user": {"exec": {"command": "x", "env": [{"name": "API_KEY", "value": env_value}]}}}]}))
    log = tmp_path / "out.log"
    log.write_text("ok\nAuthorization: Bearer %s\n%s\n" % (token, base64.b64encode(env_value.encode()).decode()))
    proc = subprocess.run([sys.executable, str(SCANNER), "--kubeconfig", str(kubeconfig), str(log)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "out.log:2: kubeconfig.users[a].user.token (clear)" in proc.stdout
    assert "out.log:3: kubeconfig.users[b].user.exec.env.API_KEY (base64" in proc.stdout
    assert token not in proc.stdout + proc.stderr and env_value not in proc.stdout + proc.stderr
    clean = subprocess.run([sys.executable, str(SCANNER), "--kubeconfig", str(kubeconfig)], input="nothing\n",
                           capture_output=True, text=True, timeout=60, check=False)
    assert clean.returncode == 0, clean.stdout
    short = subprocess.run([sys.executable, str(SCANNER), "--secret", "x=abc"], input="", capture_output=True,
                           text=True, timeout=60, check=False)
    assert short.returncode != 0 and "too short" in short.stderr


# -- a deploy ------------------------------------------------------------------------------------------------
@pytest.mark.sandbox
@pytest.mark.flow("what a deploy's -vvv and diff output shows of the secrets it handles")
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_deploy_with_vvv_and_diff_shows_no_secret(sandbox, collections_path, tmp_path):
    env = base_env(sandbox, collections_path)
    install_platform(sandbox, env, tmp_path)
    model = train(tmp_path / "iris")
    # credentials of this run only (the sandbox's S3 takes any), so a match can only come from this deploy
    access_key = "AKIASCAN" + uuid.uuid4().hex[:12].upper()
    secret_key = "scan-secret-" + uuid.uuid4().hex
    session_token = "scan-session-" + uuid.uuid4().hex
    ansible_log = tmp_path / "ansible.log"
    creds = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key, "AWS_SESSION_TOKEN": session_token,
             "ANSIBLE_LOG_PATH": str(ansible_log)}
    done = ok(run(env, tmp_path, DEPLOY, "-vvv", "--diff", timeout=600, name="deploy-vvv", env_extra=creds,
                  extra_vars={"deploy_model_namespace": NAMESPACE, "deploy_model_bucket": "secrets-it",
                              "deploy_model_name": "iris", "deploy_model_dir": str(model),
                              "deploy_model_wait_timeout": 240}))
    assert "Smoke prediction" in done.output and "<<< PUT" not in done.output
    secrets = {"S3 secret key": secret_key, "S3 session token": session_token, "S3 access key id": access_key,
               **scan_secrets.kubeconfig_secrets(sandbox.kubeconfig)}
    assert any("token" in label for label in secrets), secrets.keys()

    # the control: the storage Secret holds these values, and the scanner sees them in it as the API returns it
    code, _headers, body = sandbox.request("GET", "/api/v1/namespaces/%s/secrets/s3-model-secret" % NAMESPACE)
    assert code == 200
    stored = scan_secrets.scan([("api", body.decode())], secrets)
    assert {f["secret"] for f in stored} >= {"S3 secret key", "S3 access key id"}, stored
    values = [base64.b64decode(v).decode() for v in json.loads(body)["data"].values()]
    secrets.update({"storage Secret value %d" % i: v for i, v in enumerate(values) if len(v) >= 16
                    and any(s in v for s in (secret_key, access_key, session_token))})

    texts = [("playbook output", done.output), ("ansible.log", ansible_log.read_text(errors="replace"))]
    texts += list(scan_secrets.read_inputs([str(sandbox.dir) + "/logs"]))
    assert sum(len(t) for _source, t in texts) > 100_000  # -vvv: the whole invocation of every task is there
    findings = scan_secrets.scan(texts, secrets)
    assert findings == [], "\n".join("%(source)s:%(line)d: %(secret)s (%(form)s)" % f for f in findings[:40])
