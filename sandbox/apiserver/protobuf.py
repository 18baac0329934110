"""Decoding of the Kubernetes protobuf wire format for the few request bodies kubectl sends that way
(`kubectl create namespace|configmap|secret|serviceaccount|deployment|service|job|cronjob|role|rolebinding|
clusterrole|clusterrolebinding|quota|priorityclass|ingress|poddisruptionbudget|token`, `kubectl auth can-i`,
`kubectl autoscale`, `kubectl certificate approve|deny`).
Field numbers follow the kinds' generated.proto; messages list the fields those commands (and a Job made
`--from=cronjob/...`, which copies a stored pod template) carry. Responses are always JSON."""

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
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False),
                       5: ("minReadySeconds", INT, False), 6: ("revisionHistoryLimit", INT, False),
                       7: ("paused", BOOL, False), 9: ("progressDeadlineSeconds", INT, False)},
    "DeploymentStrategy": {1: ("type", S, False)},
    "LabelSelector": {1: ("matchLabels", "map:S", False), 2: ("matchExpressions", "LabelSelectorRequirement", True)},
    "LabelSelectorRequirement": {1: ("key", S, False), 2: ("operator", S, False), 3: ("values", S, True)},
    "IntOrString": {1: ("type", INT, False), 2: ("intVal", INT, False), 3: ("strVal", S, False)},
    "Quantity": {1: ("string", S, False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {1: ("volumes", "Volume", True), 20: ("initContainers", "Container", True),
                2: ("containers", "Container", True), 3: ("restartPolicy", S, False),
                4: ("terminationGracePeriodSeconds", INT, False), 5: ("activeDeadlineSeconds", INT, False),
                6: ("dnsPolicy", S, False), 7: ("nodeSelector", "map:S", False),
                8: ("serviceAccountName", S, False), 9: ("serviceAccount", S, False),
                21: ("automountServiceAccountToken", BOOL, False), 10: ("nodeName", S, False),
                11: ("hostNetwork", BOOL, False), 14: ("securityContext", "PodSecurityContext", False),
                15: ("imagePullSecrets", "LocalObjectReference", True), 16: ("hostname", S, False),
                17: ("subdomain", S, False), 19: ("schedulerName", S, False),
                22: ("tolerations", "Toleration", True), 24: ("priorityClassName", S, False),
                25: ("priority", INT, False), 30: ("enableServiceLinks", BOOL, False),
                31: ("preemptionPolicy", S, False)},
    "PodSecurityContext": {2: ("runAsUser", INT, False), 6: ("runAsGroup", INT, False),
                           3: ("runAsNonRoot", BOOL, False), 4: ("supplementalGroups", INT, True),
                           5: ("fsGroup", INT, False)},
    "SecurityContext": {1: ("capabilities", "Capabilities", False), 2: ("privileged", BOOL, False),
                        4: ("runAsUser", INT, False), 8: ("runAsGroup", INT, False),
                        5: ("runAsNonRoot", BOOL, False), 6: ("readOnlyRootFilesystem", BOOL, False),
                        7: ("allowPrivilegeEscalation", BOOL, False)},
    "Capabilities": {1: ("add", S, True), 2: ("drop", S, True)},
    "Toleration": {1: ("key", S, False), 2: ("operator", S, False), 3: ("value", S, False),
                   4: ("effect", S, False), 5: ("tolerationSeconds", INT, False)},
    "LocalObjectReference": {1: ("name", S, False)},
    "Container": {1: ("name", S, False), 2: ("image", S, False), 3: ("command", S, True), 4: ("args", S, True),
                  5: ("workingDir", S, False), 6: ("ports", "ContainerPort", True),
                  19: ("envFrom", "EnvFromSource", True), 7: ("env", "EnvVar", True),
                  8: ("resources", "ResourceRequirements", False), 9: ("volumeMounts", "VolumeMount", True),
                  10: ("livenessProbe", "Probe", False), 11: ("readinessProbe", "Probe", False),
                  22: ("startupProbe", "Probe", False), 13: ("terminationMessagePath", S, False),
                  20: ("terminationMessagePolicy", S, False), 14: ("imagePullPolicy", S, False),
                  15: ("securityContext", "SecurityContext", False), 16: ("stdin", BOOL, False),
                  17: ("stdinOnce", BOOL, False), 18: ("tty", BOOL, False)},
    "ContainerPort": {1: ("name", S, False), 2: ("hostPort", INT, False), 3: ("containerPort", INT, False),
                      4: ("protocol", S, False), 5: ("hostIP", S, False)},
    "EnvVar": {1: ("name", S, False), 2: ("value", S, False), 3: ("valueFrom", "EnvVarSource", False)},
    "EnvVarSource": {1: ("fieldRef", "ObjectFieldSelector", False),
                     2: ("resourceFieldRef", "ResourceFieldSelector", False),
                     3: ("configMapKeyRef", "KeySelector", False), 4: ("secretKeyRef", "KeySelector", False)},
    "ObjectFieldSelector": {1: ("apiVersion", S, False), 2: ("fieldPath", S, False)},
    "ResourceFieldSelector": {1: ("containerName", S, False), 2: ("resource", S, False),
                              3: ("divisor", "Quantity", False)},
    "KeySelector": {1: ("", "LocalObjectReference", False), 2: ("key", S, False), 3: ("optional", BOOL, False)},
    "EnvFromSource": {1: ("prefix", S, False), 2: ("configMapRef", "EnvSource", False),
                      3: ("secretRef", "EnvSource", False)},
    "EnvSource": {1: ("", "LocalObjectReference", False), 2: ("optional", BOOL, False)},
    "ResourceRequirements": {1: ("limits", "map:Q", False), 2: ("requests", "map:Q", False)},
    "VolumeMount": {1: ("name", S, False), 2: ("readOnly", BOOL, False), 3: ("mountPath", S, False),
                    4: ("subPath", S, False), 5: ("mountPropagation", S, False), 6: ("subPathExpr", S, False)},
    "Probe": {1: ("", "ProbeHandler", False), 2: ("initialDelaySeconds", INT, False),
              3: ("timeoutSeconds", INT, False), 4: ("periodSeconds", INT, False),
              5: ("successThreshold", INT, False), 6: ("failureThreshold", INT, False),
              7: ("terminationGracePeriodSeconds", INT, False)},
    "ProbeHandler": {1: ("exec", "ExecAction", False), 2: ("httpGet", "HTTPGetAction", False),
                     3: ("tcpSocket", "TCPSocketAction", False)},
    "ExecAction": {1: ("command", S, True)},
    "HTTPGetAction": {1: ("path", S, False), 2: ("port", "IntOrString", False), 3: ("host", S, False),
                      4: ("scheme", S, False), 5: ("httpHeaders", "HTTPHeader", True)},
    "HTTPHeader": {1: ("name", S, False), 2: ("value", S, False)},
    "TCPSocketAction": {1: ("port", "IntOrString", False), 2: ("host", S, False)},
    "Volume": {1: ("name", S, False), 2: ("", "VolumeSource", False)},
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource", False), 2: ("emptyDir", "EmptyDirVolumeSource", False),
                     6: ("secret", "SecretVolumeSource", False),
                     10: ("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", False),
                     19: ("configMap", "ConfigMapVolumeSource", False)},
    "HostPathVolumeSource": {1: ("path", S, False), 2: ("type", S, False)},
    "EmptyDirVolumeSource": {1: ("medium", S, False), 2: ("sizeLimit", "Quantity", False)},
    "SecretVolumeSource": {1: ("secretName", S, False), 2: ("items", "KeyToPath", True),
                           3: ("defaultMode", INT, False), 4: ("optional", BOOL, False)},
    "ConfigMapVolumeSource": {1: ("", "LocalObjectReference", False), 2: ("items", "KeyToPath", True),
                              3: ("defaultMode", INT, False), 4: ("optional", BOOL, False)},
    "KeyToPath": {1: ("key", S, False), 2: ("path", S, False), 3: ("mode", INT, False)},
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", S, False), 2: ("readOnly", BOOL, False)},
    # core/v1 Service
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", "map:S", False), 3: ("clusterIP", S, False),
                    18: ("clusterIPs", S, True), 4: ("type", S, False), 5: ("externalIPs", S, True),
                    7: ("sessionAffinity", S, False), 10: ("externalName", S, False),
                    11: ("externalTrafficPolicy", S, False), 13: ("publishNotReadyAddresses", BOOL, False),
                    19: ("ipFamilies", S, True), 17: ("ipFamilyPolicy", S, False),
                    22: ("internalTrafficPolicy", S, False)},
    "ServicePort": {1: ("name", S, False), 2: ("protocol", S, False), 6: ("appProtocol", S, False),
                    3: ("port", INT, False), 4: ("targetPort", "IntOrString", False), 5: ("nodePort", INT, False)},
    # core/v1 ResourceQuota
    "ResourceQuota": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ResourceQuotaSpec", False)},
    "ResourceQuotaSpec": {1: ("hard", "map:Q", False), 2: ("scopes", S, True),
                          3: ("scopeSelector", "ScopeSelector", False)},
    "ScopeSelector": {1: ("matchExpressions", "ScopedResourceSelectorRequirement", True)},
    "ScopedResourceSelectorRequirement": {1: ("scopeName", S, False), 2: ("operator", S, False),
                                          3: ("values", S, True)},
    # batch/v1
    "Job": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "JobSpec", False)},
    "JobSpec": {1: ("parallelism", INT, False), 2: ("completions", INT, False),
                3: ("activeDeadlineSeconds", INT, False), 7: ("backoffLimit", INT, False),
                12: ("backoffLimitPerIndex", INT, False), 13: ("maxFailedIndexes", INT, False),
                4: ("selector", "LabelSelector", False), 5: ("manualSelector", BOOL, False),
                6: ("template", "PodTemplateSpec", False), 8: ("ttlSecondsAfterFinished", INT, False),
                9: ("completionMode", S, False), 10: ("suspend", BOOL, False),
                14: ("podReplacementPolicy", S, False), 15: ("managedBy", S, False)},
    "CronJob": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "CronJobSpec", False)},
    "CronJobSpec": {1: ("schedule", S, False), 8: ("timeZone", S, False), 2: ("startingDeadlineSeconds", INT, False),
                    3: ("concurrencyPolicy", S, False), 4: ("suspend", BOOL, False),
                    5: ("jobTemplate", "JobTemplateSpec", False), 6: ("successfulJobsHistoryLimit", INT, False),
                    7: ("failedJobsHistoryLimit", INT, False)},
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "JobSpec", False)},
    # rbac.authorization.k8s.io/v1
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True),
                    3: ("aggregationRule", "AggregationRule", False)},
    "PolicyRule": {1: ("verbs", S, True), 2: ("apiGroups", S, True), 3: ("resources", S, True),
                   4: ("resourceNames", S, True), 5: ("nonResourceURLs", S, True)},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", True)},
    "RoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                    3: ("roleRef", "RoleRef", False)},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                           3: ("roleRef", "RoleRef", False)},
    "Subject": {1: ("kind", S, False), 2: ("apiGroup", S, False), 3: ("name", S, False), 4: ("namespace", S, False)},
    "RoleRef": {1: ("apiGroup", S, False), 2: ("kind", S, False), 3: ("name", S, False)},
    # scheduling.k8s.io/v1, policy/v1, networking.k8s.io/v1
    "PriorityClass": {1: ("metadata", "ObjectMeta", False), 2: ("value", INT, False),
                      3: ("globalDefault", BOOL, False), 4: ("description", S, False),
                      5: ("preemptionPolicy", S, False)},
    "PodDisruptionBudget": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodDisruptionBudgetSpec", False)},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "IntOrString", False), 2: ("selector", "LabelSelector", False),
                                3: ("maxUnavailable", "IntOrString", False),
                                4: ("unhealthyPodEvictionPolicy", S, False)},
    "Ingress": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "IngressSpec", False)},
    "IngressSpec": {4: ("ingressClassName", S, False), 1: ("defaultBackend", "IngressBackend", False),
                    2: ("tls", "IngressTLS", True), 3: ("rules", "IngressRule", True)},
    "IngressBackend": {4: ("service", "IngressServiceBackend", False),
                       3: ("resource", "TypedLocalObjectReference", False)},
    "TypedLocalObjectReference": {1: ("apiGroup", S, False), 2: ("kind", S, False), 3: ("name", S, False)},
    "IngressServiceBackend": {1: ("name", S, False), 2: ("port", "ServiceBackendPort", False)},
    "ServiceBackendPort": {1: ("name", S, False), 2: ("number", INT, False)},
    "IngressTLS": {1: ("hosts", S, True), 2: ("secretName", S, False)},
    "IngressRule": {1: ("host", S, False), 2: ("", "IngressRuleValue", False)},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue", False)},
    "HTTPIngressRuleValue": {1: ("paths", "HTTPIngressPath", True)},
    "HTTPIngressPath": {1: ("path", S, False), 3: ("pathType", S, False), 2: ("backend", "IngressBackend", False)},
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
    # autoscaling/v1 (`kubectl autoscale`)
    "HorizontalPodAutoscaler": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "HPASpec", False)},
    "HPASpec": {1: ("scaleTargetRef", "CrossVersionObjectReference", False), 2: ("minReplicas", INT, False),
                3: ("maxReplicas", INT, False), 4: ("targetCPUUtilizationPercentage", INT, False)},
    "CrossVersionObjectReference": {1: ("kind", S, False), 2: ("name", S, False), 3: ("apiVersion", S, False)},
    # certificates.k8s.io/v1 (`kubectl certificate approve|deny`: PUT .../approval)
    "CertificateSigningRequest": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "CSRSpec", False),
                                  3: ("status", "CSRStatus", False)},
    "CSRSpec": {1: ("request", B, False), 2: ("username", S, False), 3: ("uid", S, False), 4: ("groups", S, True),
                5: ("usages", S, True), 7: ("signerName", S, False), 8: ("expirationSeconds", INT, False)},
    "CSRStatus": {1: ("conditions", "CSRCondition", True), 2: ("certificate", B, False)},
    "CSRCondition": {1: ("type", S, False), 2: ("reason", S, False), 3: ("message", S, False),
                     4: ("lastUpdateTime", "Time", False), 5: ("lastTransitionTime", "Time", False),
                     6: ("status", S, False)},
}
TOP_LEVEL = {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "TokenRequest", "Deployment",
             "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview", "Service", "ResourceQuota",
             "Job", "CronJob", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "PriorityClass",
             "PodDisruptionBudget", "Ingress", "HorizontalPodAutoscaler", "CertificateSigningRequest"}
# Go pointer (or non-omitempty) fields whose zero value is meaningful and so kept; other 0 / false are dropped as
# JSON's omitempty would (gogo protobuf always writes non-pointer scalars, zero or not)
KEEP_ZERO = {"DeploymentSpec.replicas", "DeploymentSpec.revisionHistoryLimit",
             "ServiceAccount.automountServiceAccountToken", "ConfigMap.immutable", "Secret.immutable",
             "JobSpec.parallelism", "JobSpec.completions", "JobSpec.backoffLimit", "JobSpec.manualSelector",
             "JobSpec.suspend", "JobSpec.ttlSecondsAfterFinished", "JobSpec.activeDeadlineSeconds",
             "CronJobSpec.suspend", "CronJobSpec.startingDeadlineSeconds", "CronJobSpec.successfulJobsHistoryLimit",
             "CronJobSpec.failedJobsHistoryLimit", "PodSpec.terminationGracePeriodSeconds",
             "PodSpec.automountServiceAccountToken", "PodSpec.enableServiceLinks", "PodSpec.priority",
             "HPASpec.minReplicas", "PriorityClass.value", "ServicePort.port", "ContainerPort.containerPort",
             "SecretVolumeSource.defaultMode",
             "ConfigMapVolumeSource.defaultMode", "KeyToPath.mode", "SecurityContext.privileged",
             "SecurityContext.runAsUser", "SecurityContext.runAsNonRoot", "SecurityContext.readOnlyRootFilesystem",
             "SecurityContext.allowPrivilegeEscalation", "PodSecurityContext.runAsUser", "PodSecurityContext.fsGroup",
             "PodSecurityContext.runAsNonRoot", "KeySelector.optional", "EnvSource.optional",
             "SecretVolumeSource.optional", "ConfigMapVolumeSource.optional",
             "Toleration.tolerationSeconds", "IntOrString.intVal", "IntOrString.type"}


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
    if kind == INT and isinstance(val, int):
        return val - (1 << 64) if val >= 1 << 63 else val
    raise ProtobufError(f"cannot decode a {kind} from {type(val).__name__}")


def decode_message(name: str, buf: bytes) -> dict:
    spec = MSGS[name]
    out: dict = {}
    for num, _wire, val in _fields(buf):
        if num not in spec:
            continue
        json_name, kind, repeated = spec[num]
        if kind.startswith("map:"):
            entry = {n: v for n, _, v in _fields(val)}
            v = entry.get(2, b"")
            value = (decode_message("Quantity", v).get("string", "") if kind == "map:Q"
                     else _scalar(S if kind == "map:S" else B, v))
            out.setdefault(json_name, {})[_scalar(S, entry.get(1, b""))] = value
            continue
        if kind == INT and repeated and isinstance(val, bytes):  # packed repeated varints
            pos, vals = 0, []
            while pos < len(val):
                n, pos = _varint(val, pos)
                vals.append(_scalar(INT, n))
            out.setdefault(json_name, []).extend(vals)
            continue
        value = decode_message(kind, val) if kind in MSGS else _scalar(kind, val)
        if kind == "Time":
            value = dt.datetime.fromtimestamp(value.get("seconds", 0), dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ") if value.get("seconds") else None
        elif kind == "IntOrString":
            value = value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)
        elif kind == "Quantity":
            value = value.get("string") or None
        if repeated:
            out.setdefault(json_name, []).append(value)
        elif json_name == "" and isinstance(value, dict):  # an embedded (inline) Go struct
            out.update(value)
        elif value not in ("", None) and not (
                value in (0, False) and kind in (INT, BOOL) and f"{name}.{json_name}" not in KEEP_ZERO):
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
