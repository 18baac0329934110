"""A throw-away CA (its key kept, 0600), a server certificate for 127.0.0.1/localhost and an admin client
certificate (CN sandbox-admin, O system:masters), generated once per sandbox dir. The API server trusts client
certificates this CA signs, as kube-apiserver's --client-ca-file (CN = user, O = groups)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key")
ADMIN_SUBJECT = ("sandbox-admin", ("system:masters",))


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def client_cert(ca_cert_pem: bytes, ca_key_pem: bytes, user: str, groups: tuple[str, ...] = (),
                days: int = 3650) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a client certificate for `user` (CN) in `groups` (O), signed by the CA."""
    ca = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    key = _key()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
                         *([x509.NameAttribute(NameOID.COMMON_NAME, user)] if user else [])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def ensure_certs(directory: str) -> dict[str, str]:
    """Create (or reuse) the FILES in `directory`; returns their paths. A directory made before the CA key was
    kept gets a new CA (nothing else can sign the admin client certificate)."""
    paths = {n: os.path.join(directory, n) for n in FILES}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = _key()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
                x509.DNSName("kubernetes.default.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    admin_crt, admin_key = client_cert(ca_pem, _pem_key(ca_key), ADMIN_SUBJECT[0], ADMIN_SUBJECT[1])
    _write(paths["ca.key"], _pem_key(ca_key), 0o600)
    _write(paths["server.crt"], cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["server.key"], _pem_key(key), 0o600)
    _write(paths["admin.crt"], admin_crt)
    _write(paths["admin.key"], admin_key, 0o600)
    _write(paths["ca.crt"], ca_pem)
    return paths
