"""The real control plane's PKI, generated once per sandbox directory (DIR/pki): a CA whose key is kept (it
signs the client certificates and kube-controller-manager's CSR signer uses it), the API server's serving
certificate for loopback, client certificates for the admin and the control-plane components, and the
service account signing key pair."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# (file stem, common name, organisation): the identities the control plane's clients present.
CLIENTS = (
    ("admin", "sandbox-admin", "system:masters"),
    ("kube-controller-manager", "system:kube-controller-manager", None),
    ("kube-scheduler", "system:kube-scheduler", None),
    ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
)
SERVING_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: x509.Name, key, ca_name: x509.Name, ca_key, *, ca: bool = False, usage=None, sans=None):
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
         .not_valid_after(now + dt.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, key_encipherment=not ca,
                                      content_commitment=False, data_encipherment=False, key_agreement=False,
                                      encipher_only=False, decipher_only=False), critical=True))
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ensure_pki(directory: str, service_ip: str) -> dict[str, str]:
    """Create (or reuse) DIR/pki; returns the paths by name (ca.crt, ca.key, apiserver.crt, admin.crt, ...)."""
    pki = os.path.join(directory, "pki")
    os.makedirs(pki, mode=0o700, exist_ok=True)
    names = ["ca", "apiserver", "kubelet", *(c[0] for c in CLIENTS)]
    paths = {f"{n}.{ext}": os.path.join(pki, f"{n}.{ext}") for n in names for ext in ("crt", "key")}
    paths.update({"sa.key": os.path.join(pki, "sa.key"), "sa.pub": os.path.join(pki, "sa.pub")})
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("sandbox-kube-ca")
    _write(paths["ca.key"], _key_pem(ca_key), 0o600)
    _write(paths["ca.crt"], _cert(ca_name, ca_key, ca_name, ca_key, ca=True))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in SERVING_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", service_ip)]
    _write(paths["apiserver.key"], _key_pem(key), 0o600)
    _write(paths["apiserver.crt"], _cert(_name("kube-apiserver"), key, ca_name, ca_key,
                                         usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans))
    key = ec.generate_private_key(ec.SECP256R1())   # the kubelet API's serving certificate (the node's address)
    _write(paths["kubelet.key"], _key_pem(key), 0o600)
    _write(paths["kubelet.crt"], _cert(_name("system:node:sandbox-node", "system:nodes"), key, ca_name, ca_key,
                                       usage=[ExtendedKeyUsageOID.SERVER_AUTH],
                                       sans=[x509.DNSName("sandbox-node"),
                                             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
    for stem, cn, org in CLIENTS:
        key = ec.generate_private_key(ec.SECP256R1())
        _write(paths[f"{stem}.key"], _key_pem(key), 0o600)
        _write(paths[f"{stem}.crt"], _cert(_name(cn, org), key, ca_name, ca_key,
                                           usage=[ExtendedKeyUsageOID.CLIENT_AUTH]))
    sa = ec.generate_private_key(ec.SECP256R1())
    _write(paths["sa.key"], _key_pem(sa), 0o600)
    _write(paths["sa.pub"], sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths
