"""Client-certificate (x509) authentication beside bearer tokens, as kube-apiserver's --client-ca-file: a
certificate the sandbox's CA signed authenticates as CN = user, O = groups; DIR/kubeconfig-x509 is the admin's."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import ssl

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.certs import client_cert

pytestmark = pytest.mark.sandbox


def _ca(sandbox) -> tuple[bytes, bytes]:
    with open(sandbox.ca_file, "rb") as f:
        crt = f.read()
    with open(os.path.join(os.path.dirname(sandbox.ca_file), "ca.key"), "rb") as f:
        return crt, f.read()


def _kubeconfig(sandbox, tmp_path, cert: bytes, key: bytes, name: str = "cert-user") -> str:
    """A kubeconfig with the certificate and key inline (client-certificate-data / client-key-data)."""
    with open(sandbox.ca_file, "rb") as f:
        ca = f.read()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    cfg = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "s", "cluster": {"server": sandbox.server, "certificate-authority-data": b64(ca)}}],
           "users": [{"name": name, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
           "contexts": [{"name": "s", "context": {"cluster": "s", "user": name}}], "current-context": "s"}
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _whoami(sandbox, kubeconfig: str) -> dict:
    out = sandbox.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout
    return json.loads(out)["status"]["userInfo"]


def _raw(sandbox, path: str, cert: bytes | None, key: bytes | None, tmp_path, token: str = "") -> int:
    ctx = ssl.create_default_context(cafile=sandbox.ca_file)
    if cert is not None:
        (tmp_path / "c.crt").write_bytes(cert)
        (tmp_path / "c.key").write_bytes(key)
        ctx.load_cert_chain(str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    host, port = sandbox.server.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_admin_kubeconfig_x509(sandbox):
    path = os.path.join(sandbox.dir, "kubeconfig-x509")
    with open(path, encoding="utf-8") as f:
        user = yaml.safe_load(f)["users"][0]["user"]
    assert set(user) == {"client-certificate", "client-key"} and "token" not in user
    info = _whoami(sandbox, path)
    assert info["username"] == "sandbox-admin"
    assert set(info["groups"]) == {"system:masters", "system:authenticated"}
    assert "default" in sandbox.kubectl("get", "namespaces", "-o", "name", kubeconfig=path).stdout


def test_client_certificate_user_and_groups(sandbox, ns, tmp_path):
    cert, key = client_cert(*_ca(sandbox), "alice", ("devs", "qa"))
    cfg = _kubeconfig(sandbox, tmp_path, cert, key)
    info = _whoami(sandbox, cfg)
    assert info["username"] == "alice"
    assert info["groups"] == ["devs", "qa", "system:authenticated"]
    # authorized as that user: nothing granted yet, then a RoleBinding to the group
    proc = sandbox.kubectl("-n", ns, "get", "configmaps", kubeconfig=cfg, check=False)
    assert proc.returncode != 0
    assert f'User "alice" cannot list resource "configmaps" in API group "" in the namespace "{ns}"' in proc.stderr
    sandbox.kubectl("-n", ns, "create", "role", "read", "--verb=get,list", "--resource=configmaps")
    sandbox.kubectl("-n", ns, "create", "rolebinding", "read", "--role=read", "--group=devs")
    sandbox.kubectl("-n", ns, "create", "configmap", "c", "--from-literal=a=1")
    assert sandbox.kubectl("-n", ns, "get", "configmaps", "-o", "name", kubeconfig=cfg).stdout.split() \
        == ["configmap/c", "configmap/kube-root-ca.crt"]

    # the official Python client with the same kubeconfig
    from kubernetes import client, config
    api = config.new_client_from_config(config_file=cfg)
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review({})
        assert review.status.user_info.username == "alice"
        names = [c.metadata.name for c in client.CoreV1Api(api).list_namespaced_config_map(ns).items]
        assert "c" in names
    finally:
        api.close()


def test_certificate_before_token_and_untrusted_certificates(sandbox, tmp_path):
    cert, key = client_cert(*_ca(sandbox), "bob", ())
    # a certificate and a token: the certificate authenticator answers first, as kube-apiserver's union
    assert _raw(sandbox, "/api/v1/namespaces", cert, key, tmp_path, token=sandbox.token) == 403
    assert _raw(sandbox, "/api/v1/namespaces", None, None, tmp_path, token=sandbox.token) == 200
    # no CN authenticates no one: the token still does; alone, 401
    nocn, nocn_key = client_cert(*_ca(sandbox), "", ("devs",))
    assert _raw(sandbox, "/api/v1/namespaces", nocn, nocn_key, tmp_path, token=sandbox.token) == 200
    assert _raw(sandbox, "/api/v1/namespaces", nocn, nocn_key, tmp_path) == 401
    # signed by another CA: never authenticated (the emulator's TLS ends the handshake, Go's server says 401)
    other_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other-ca")])
    other = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(other_key.public_key())
             .serial_number(1).not_valid_before(dt.datetime(2020, 1, 1))
             .not_valid_after(dt.datetime(2100, 1, 1))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(other_key, hashes.SHA256()))
    pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                    serialization.NoEncryption())
    forged, forged_key = client_cert(other.public_bytes(serialization.Encoding.PEM), pem(other_key),
                                     "sandbox-admin", ("system:masters",))
    try:
        code = _raw(sandbox, "/api/v1/namespaces", forged, forged_key, tmp_path)
    except (ssl.SSLError, ConnectionError):
        code = None
    assert code in (None, 401)
