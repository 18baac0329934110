"""Decoding of the Kubernetes protobuf wire format for the few request bodies kubectl sends that way
(`kubectl create namespace|configmap|secret|serviceaccount|deployment|token`). Responses are always JSON."""

from __future__ import annotations

import base64
import datetime as dt

MAGIC = b"k8s\x00"

# message -> field number -> (json name, type, repeated)
S, B, INT, BOOL = "string", "bytes", "int", "bool"
MSGS: dict[str, dict[int, tuple[str, str, bool]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", B, False)},
    "TypeMeta": {1: ("apiVersion", S, False), 2: ("kind", S, False)},
    "ObjectMeta": {1: ("name", S, False), 2: ("generateName", S, False), 3: ("namespace", S, False),
                   5: ("uid", S, False), 6: ("resourceVersion", S, False), 7: ("generation", INT, False),
                   8: ("creationTimestamp", "Time", False), 11: ("labels", "map:S", False),
                   12: ("annotations", "map:S", False), 13: ("ownerReferences", "OwnerReference", True),
                   14: ("finalizers", S, True)},
    "OwnerReference": {1: ("kind", S, False), 3: ("name", S, False), 4: ("uid", S, False),
                       5: ("apiVersion", S, False), 6: ("controller", BOOL, False),
                       7: ("blockOwnerDeletion", BOOL, False)},
    "Time": {1: ("seconds", INT, False), 2: ("nanos", INT, False)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False)},
    "NamespaceSpec": {1: ("finalizers", S, True)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map:S", False),
                  3: ("binaryData", "map:B", False), 4: ("immutable", BOOL, False)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map:B", False), 3: ("type", S, False),
               4: ("stringData", "map:S", False), 5: ("immutable", BOOL, False)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", False), 3: ("automountServiceAccountToken", BOOL, False)},
    "TokenRequest": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "TokenRequestSpec", False)},
    "TokenRequestSpec": {1: ("audiences", S, True), 3: ("boundObjectRef", "BoundObjectReference", False),
                         4: ("expirationSeconds", INT, False)},
    "BoundObjectReference": {1: ("kind", S, False), 2: ("apiVersion", S, False), 3: ("name", S, False),
                             4: ("uid", S, False)},
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False)},
    "DeploymentSpec": {1: ("replicas", INT, False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False)},
    "DeploymentStrategy": {1: ("type", S, False)},
    "LabelSelector": {1: ("matchLabels", "map:S", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {2: ("containers", "Container", True), 3: ("restartPolicy", S, False)},
    "Container": {1: ("name", S, False), 2: ("image", S, False), 3: ("command", S, True), 4: ("args", S, True),
                  6: ("ports", "ContainerPort", True), 7: ("env", "EnvVar", True),
                  8: ("resources", "Empty", False)},
    "ContainerPort": {1: ("name", S, False), 3: ("containerPort", INT, False), 4: ("protocol", S, False)},
    "EnvVar": {1: ("name", S, False), 2: ("value", S, False)},
    "Empty": {},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SSARSpec", False)},
    "SSARSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                 2: ("nonResourceAttributes", "NonResourceAttributes", False)},
    "ResourceAttributes": {1: ("namespace", S, False), 2: ("verb", S, False), 3: ("group", S, False),
                           4: ("version", S, False), 5: ("resource", S, False), 6: ("subresource", S, False),
                           7: ("name", S, False)},
    "NonResourceAttributes": {1: ("path", S, False), 2: ("verb", S, False)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SSRRSpec", False)},
    "SSRRSpec": {1: ("namespace", S, False)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False)},
}
TOP_LEVEL = {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "TokenRequest", "Deployment",
             "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview"}


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ProtobufError("truncated field")
            val, pos = buf[pos:pos + n], pos + n
        elif wire == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield num, wire, val


def _scalar(kind: str, val):
    if kind == S:
        return val.decode("utf-8")
    if kind == B:
        return base64.b64encode(val).decode()
    if kind == BOOL:
        return bool(val)
    if kind == INT:
        return val - (1 << 64) if val >= 1 << 63 else val
    return val


def decode_message(name: str, buf: bytes) -> dict:
    spec = MSGS[name]
    out: dict = {}
    for num, _wire, val in _fields(buf):
        if num not in spec:
            continue
        json_name, kind, repeated = spec[num]
        if kind.startswith("map:"):
            entry = {n: v for n, _, v in _fields(val)}
            out.setdefault(json_name, {})[_scalar(S, entry.get(1, b""))] = _scalar(
                S if kind == "map:S" else B, entry.get(2, b""))
            continue
        value = decode_message(kind, val) if kind in MSGS else _scalar(kind, val)
        if kind == "Time":
            value = dt.datetime.fromtimestamp(value.get("seconds", 0), dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ") if value.get("seconds") else None
        if repeated:
            out.setdefault(json_name, []).append(value)
        elif value not in ("", None) and not (name == "ObjectMeta" and value == 0):
            out[json_name] = value
    return out


def decode(body: bytes) -> dict:
    """Kubernetes protobuf envelope -> JSON-like dict (raises ProtobufError for what is not understood)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing protobuf magic prefix")
    unknown = decode_message("Unknown", body[len(MAGIC):])
    tm = unknown.get("typeMeta") or {}
    kind = tm.get("kind", "")
    if kind not in TOP_LEVEL:
        raise ProtobufError(f"protobuf bodies for kind {kind!r} are not supported, send JSON")
    obj = decode_message(kind, base64.b64decode(unknown.get("raw", "")))
    obj = {"apiVersion": tm.get("apiVersion"), "kind": kind, **obj}
    meta = obj.get("metadata") or {}
    if meta.get("creationTimestamp") is None:
        meta.pop("creationTimestamp", None)
    return obj
