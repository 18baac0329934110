"""Every way of authenticating that the collection documents, through a real module run against the cluster
(both control planes): a kubeconfig with a bearer token, with client certificate files and inline certificate
data, with a token file and with an exec credential plugin (as ``aws eks get-token``), and the K8S_AUTH_*
variables without any kubeconfig. In-cluster service accounts and proxies are covered by the unit tests
(tests/unit/plugins/module_utils/test_client.py): a test here cannot mount a service account or leave loopback."""

from __future__ import annotations

import base64
import os
import stat

import pytest
import yaml

pytestmark = pytest.mark.sandbox


def _admin(sandbox):
    """(cluster entry, token user entry, certificate user entry) of the sandbox's own kubeconfigs."""
    with open(sandbox.kubeconfig, encoding="utf-8") as f:
        token_config = yaml.safe_load(f)
    with open(os.path.join(sandbox.dir, "kubeconfig-x509"), encoding="utf-8") as f:
        cert_config = yaml.safe_load(f)
    return token_config["clusters"][0]["cluster"], token_config["users"][0]["user"], cert_config["users"][0]["user"]


def _kubeconfig(tmp_path, name, cluster, user):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    path = tmp_path / ("%s.kubeconfig" % name)
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _data(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_each_authentication_path_lists_namespaces(sandbox, run_playbook, tmp_path):
    cluster, token_user, cert_user = _admin(sandbox)
    token = token_user["token"]
    (tmp_path / "token").write_text(token + "\n")
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\n"
                      "test \"$PLUGIN_SETTING\" = from-kubeconfig || exit 3\n"
                      "printf '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", "
                      "\"status\": {\"token\": \"%s\"}}' \"$(cat %s)\"\n" % ("%s", tmp_path / "token"))
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    kubeconfigs = {
        "token": _kubeconfig(tmp_path, "token", cluster, {"token": token}),
        "certificate files": _kubeconfig(tmp_path, "files", cluster, cert_user),
        "certificate data": _kubeconfig(tmp_path, "data", cluster, {
            "client-certificate-data": _data(cert_user["client-certificate"]),
            "client-key-data": _data(cert_user["client-key"])}),
        "token file": _kubeconfig(tmp_path, "tokenfile", cluster, {"tokenFile": str(tmp_path / "token")}),
        "exec plugin": _kubeconfig(tmp_path, "exec", cluster, {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
            "env": [{"name": "PLUGIN_SETTING", "value": "from-kubeconfig"}], "interactiveMode": "Never"}}),
    }
    tasks = [{"name": name, "mlops.k8s.info": {"kubeconfig": path, "api_version": "v1", "kind": "Namespace",
                                               "name": "default"}}
             for name, path in kubeconfigs.items()]
    ca = cluster.get("certificate-authority")
    if not ca:
        ca = str(tmp_path / "ca.crt")
        (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    tasks.append({"name": "environment", "mlops.k8s.info": {"api_version": "v1", "kind": "Namespace",
                                                            "name": "default"},
                  "environment": {"K8S_AUTH_KUBECONFIG": "", "KUBECONFIG": str(tmp_path / "none"),
                                  "K8S_AUTH_HOST": cluster["server"], "K8S_AUTH_API_KEY": token,
                                  "K8S_AUTH_SSL_CA_CERT": ca}})
    tasks.append({"name": "a plugin that fails", "mlops.k8s.info": {
        "kubeconfig": _kubeconfig(tmp_path, "broken", cluster, {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}),
        "api_version": "v1", "kind": "Namespace", "name": "default"}, "ignore_errors": True})
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    for name in [*kubeconfigs, "environment"]:
        result = run.task(name)
        assert not result.get("failed"), (name, result.get("msg"))
        assert [r["metadata"]["name"] for r in result["resources"]] == ["default"], name
    broken = run.task("a plugin that fails")
    assert broken["failed"] and "exec credential plugin %s exited with 3" % plugin in broken["msg"]
    assert token not in run.stdout
