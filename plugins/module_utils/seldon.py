# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SeldonDeployment (machinelearning.seldon.io/v1): builder, validation, status interpretation, explanations.

* ``build_sdep(name, namespace, predictors, ...)`` turns the friendly arguments of the ``seldon_deployment``
  module into a SeldonDeployment manifest (field names as in seldon-core 1.18 ``seldondeployment_types.go``).
* ``validate_sdep(obj)`` checks what the operator would reject late (traffic split, names, modelUri).
* ``status_check(obj)`` -> ``(done, failed_reason)``; ``describe_status(obj)`` one line for messages.
* ``explain(client, name, namespace)`` gathers why a SeldonDeployment is not Available from the namespace:
  predictor Deployments' conditions, their Pods' container states and recent Warning Events.
* ``wait_available(...)`` waits (watch based) for ``state == Available`` *after* our change, failing fast
  on ``Failed`` and on Pods that cannot start, with the explanation.
* ``endpoints(obj)`` in-cluster service URLs and the gateway path.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time

from ansible_collections.mlops.k8s.plugins.module_utils import limits, waiter
from ansible_collections.mlops.k8s.plugins.module_utils import names as names_
from ansible_collections.mlops.k8s.plugins.module_utils import pod_diagnostics as diag
from ansible_collections.mlops.k8s.plugins.module_utils.errors import (
    K8sError,
    WaitFailed,
    WaitTimeout,
    describe_shape,
    ref,
)
from ansible_collections.mlops.k8s.plugins.module_utils.text import seconds, short, to_int

API_VERSION = "machinelearning.seldon.io/v1"
KIND = "SeldonDeployment"

# Prepackaged model servers: they need a modelUri and run the server image the operator picks.
PREPACKAGED_SERVERS = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "TENSORFLOW_SERVER", "TRITON_SERVER",
                       "HUGGINGFACE_SERVER", "TEMPO_SERVER")
# Built-in units of the service orchestrator (no container, no modelUri).
BUILTIN_IMPLEMENTATIONS = ("SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER")
IMPLEMENTATIONS = PREPACKAGED_SERVERS + BUILTIN_IMPLEMENTATIONS
NODE_TYPES = ("MODEL", "TRANSFORMER", "ROUTER", "COMBINER", "OUTPUT_TRANSFORMER")
PARAMETER_TYPES = ("INT", "FLOAT", "DOUBLE", "STRING", "BOOL")
PROTOCOLS = ("seldon", "v2", "kfserving", "tensorflow")
ENDPOINT_TYPES = ("REST", "GRPC")

STATE_AVAILABLE = "Available"
STATE_CREATING = "Creating"
STATE_FAILED = "Failed"

# The service orchestrator (executor) of each predictor listens on these ports (seldon-core 1.18).
EXECUTOR_HTTP_PORT = 8000
EXECUTOR_GRPC_PORT = 5001
LABEL_SELDON_ID = "seldon-deployment-id"
ANNOTATION_SVC_NAME = "seldon.io/svc-name"

# a SeldonDeployment name: the characters of a DNS-1123 label (it prefixes the names of Services and Deployments),
# as long as any object name (the operator hashes derived names longer than 63 characters, see _bounded)
MAX_NAME = 253
MAX_EVENTS = 8

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
# Where a prepackaged server's storage initializer (seldon-core 1.18: rclone, or the kfserving one) can read a model:
# S3, GCS, a PVC (mounted by the operator), HTTP(S) (Azure Blob is https://<account>.blob.core.windows.net/...)
# and an rclone remote configured by RCLONE_CONFIG_<REMOTE>_* (``<remote>:bucket/path``).
MODEL_URI_SCHEMES = ("s3", "gs", "pvc", "http", "https")
# <remote>:<bucket or container>[/path]: a bucket name, not "javascript:alert(1)" or "C:\\models"
_RCLONE_REMOTE = re.compile(r"^[A-Za-z0-9_]+:[A-Za-z0-9][A-Za-z0-9._-]*(/.*)?\Z")
_NODE_KEYS = {
    "name", "type", "implementation", "model_uri", "env_secret_ref_name", "storage_initializer_image",
    "service_account_name", "parameters", "methods", "endpoint_type", "logger", "children",
    "image", "image_pull_policy", "command", "args", "env", "env_from", "resources", "ports",
    "readiness_probe", "liveness_probe", "startup_probe", "probe_initial_delay_seconds", "volume_mounts",
    "pvc_mounts", "container",
}


class SeldonError(K8sError):
    """A SeldonDeployment could not become Available (``reason`` Failed or Timeout); ``explanation`` says why."""

    def __init__(self, msg, reason=None, explanation=None, obj=None):
        super().__init__(msg, reason=reason)
        self.explanation = explanation or {}
        self.object = obj


# -- helpers ------------------------------------------------------------------------------------------------
def _hash(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the operator's naming, not security


def _bounded(name):
    """The operator's rule for names longer than 63 characters."""
    return name if len(name) <= 63 else "seldon-" + _hash(name)


def seldon_id(name):
    """Value of the ``seldon-deployment-id`` label the operator puts on Deployments, Pods and Services."""
    return _bounded(name)


def predictor_service(name, predictor):
    """The Service in front of a predictor's orchestrator (``<name>-<predictor>``, or its svc-name annotation)."""
    custom = (predictor.get("annotations") or {}).get(ANNOTATION_SVC_NAME)
    return custom or _bounded("%s-%s" % (name, predictor.get("name")))


def _env_list(env, where):
    """env given as a mapping (name -> value or valueFrom dict) or as a list of EnvVar dicts."""
    if env is None:
        return None
    if isinstance(env, dict):
        out = []
        for key, value in env.items():
            if isinstance(value, dict) and ("valueFrom" in value or "value_from" in value):
                out.append({"name": str(key), "valueFrom": value.get("valueFrom") or value.get("value_from")})
            elif isinstance(value, dict):
                out.append({"name": str(key), "valueFrom": value})
            else:
                out.append({"name": str(key), "value": _str_value(value)})
        return out
    if isinstance(env, list):
        out = []
        for item in env:
            if not isinstance(item, dict) or not item.get("name"):
                raise K8sError("%s.env: each item must be a mapping with a name (got %s)"
                               % (where, describe_shape(item)))
            out.append(copy.deepcopy(item))
        return out
    raise K8sError("%s.env must be a mapping or a list of {name, value} (got %s)" % (where, type(env).__name__))


def _str_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _parameters(params, where):  # noqa: PLR0912 - one branch per accepted form
    """[{name, value, type}] from a list, or from a mapping name -> value with the type inferred."""
    if params is None:
        return None
    items = []
    if isinstance(params, dict):
        for key, value in params.items():
            items.append({"name": str(key), "value": value})
    elif isinstance(params, list):
        items = [copy.deepcopy(p) for p in params]
    else:
        raise K8sError("%s.parameters must be a list of {name, value, type} or a mapping" % where)
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("name") or "value" not in item:
            raise K8sError("%s.parameters: each item needs a name and a value (got %s)"
                           % (where, describe_shape(item)))
        value = item["value"]
        ptype = item.get("type")
        if ptype is None:
            if isinstance(value, bool):
                ptype = "BOOL"
            elif isinstance(value, int):
                ptype = "INT"
            elif isinstance(value, float):
                ptype = "FLOAT"
            else:
                ptype = "STRING"
        ptype = str(ptype).upper()
        if ptype not in PARAMETER_TYPES:
            raise K8sError("%s.parameters: %s has type %s; use one of %s"
                           % (where, item["name"], ptype, ", ".join(PARAMETER_TYPES)))
        out.append({"name": str(item["name"]), "value": _str_value(value), "type": ptype})
    return out


def long_probe(initial_delay, path="/health/ping", port="http"):
    """A probe for slow models (servers that download and load a large model before they answer): a long
    initial delay, then up to 100 failures every 5 seconds before the container is restarted."""
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": int(initial_delay),
        "periodSeconds": 5,
        "failureThreshold": 100,
        "successThreshold": 1,
    }


def _probe(value, where):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return long_probe(value)
    if not isinstance(value, dict):
        raise K8sError("%s must be a Kubernetes probe mapping or an initial delay in seconds" % where)
    return copy.deepcopy(value)


# -- the graph ----------------------------------------------------------------------------------------------
class _Builder:
    """Builds one predictor: its graph and the containers its nodes need."""

    def __init__(self, predictor_where):
        self.where = predictor_where
        self.containers = []
        self.volumes = []
        self.names = set()

    def node(self, spec, where, default_name=None):  # noqa: PLR0912, PLR0915 - one step per node field
        if not isinstance(spec, dict):
            raise K8sError("%s must be a mapping (a graph node), got %s" % (where, type(spec).__name__))
        unknown = sorted(set(spec) - _NODE_KEYS)
        if unknown:
            raise K8sError("%s: unknown option(s) %s; graph nodes take %s"
                           % (where, ", ".join(unknown), ", ".join(sorted(_NODE_KEYS))))
        name = spec.get("name") or default_name
        if not name:
            raise K8sError("%s: a graph node needs a name" % where)
        name = str(name)
        if not _DNS1123.match(name):
            raise K8sError("%s: node name %r must be lower case letters, digits and '-' (it names a container)"
                           % (where, name))
        if name in self.names:
            raise K8sError("%s: node name %r is used twice in the graph of %s" % (where, name, self.where))
        self.names.add(name)
        where = "%s (node %s)" % (where, name)

        node_type = str(spec.get("type") or "MODEL").upper()
        if node_type not in NODE_TYPES:
            raise K8sError("%s: type %s is not one of %s" % (where, node_type, ", ".join(NODE_TYPES)))
        implementation = spec.get("implementation")
        if implementation is not None:
            implementation = str(implementation).upper()
            if implementation not in IMPLEMENTATIONS:
                raise K8sError("%s: unknown implementation %s; use one of %s, or give an image for a custom "
                               "container" % (where, implementation, ", ".join(IMPLEMENTATIONS)))
        image = spec.get("image")
        if implementation and image:
            raise K8sError("%s: give either implementation (a prepackaged server) or image (a custom container), "
                           "not both" % where)
        if implementation is None and not image:
            raise K8sError("%s: give implementation (one of %s) with model_uri, or image for a custom container"
                           % (where, ", ".join(PREPACKAGED_SERVERS)))
        model_uri = spec.get("model_uri")
        if implementation in PREPACKAGED_SERVERS and not model_uri:
            raise K8sError("%s: implementation %s needs model_uri (where the model artifacts are, e.g. "
                           "s3://bucket/path, gs://, pvc://claim/path)" % (where, implementation))
        if implementation in BUILTIN_IMPLEMENTATIONS and model_uri:
            raise K8sError("%s: implementation %s takes no model_uri" % (where, implementation))

        node = {"name": name, "type": node_type}
        if implementation:
            node["implementation"] = implementation
        if model_uri:
            node["modelUri"] = str(model_uri)
        for key, field in (("env_secret_ref_name", "envSecretRefName"),
                           ("storage_initializer_image", "storageInitializerImage"),
                           ("service_account_name", "serviceAccountName")):
            if spec.get(key):
                node[field] = str(spec[key])
        params = _parameters(spec.get("parameters"), where)
        if params:
            node["parameters"] = params
        if spec.get("methods"):
            node["methods"] = [str(m).upper() for m in spec["methods"]]
        if spec.get("endpoint_type"):
            etype = str(spec["endpoint_type"]).upper()
            if etype not in ENDPOINT_TYPES:
                raise K8sError("%s: endpoint_type must be REST or GRPC" % where)
            node["endpoint"] = {"type": etype}
        if spec.get("logger"):
            node["logger"] = copy.deepcopy(spec["logger"])

        container = self._container(spec, name, image, where)
        if container is not None:
            self.containers.append(container)

        children = spec.get("children") or []
        if not isinstance(children, list):
            raise K8sError("%s: children must be a list of graph nodes" % where)
        node["children"] = [self.node(child, "%s.children[%d]" % (where, i)) for i, child in enumerate(children)]
        return node

    def _container(self, spec, name, image, where):
        container = copy.deepcopy(spec.get("container") or {})
        if not isinstance(container, dict):
            raise K8sError("%s: container must be a mapping (extra Kubernetes container fields)" % where)
        container["name"] = name
        if image:
            container["image"] = str(image)
        for key, field in (("image_pull_policy", "imagePullPolicy"), ("command", "command"), ("args", "args"),
                           ("resources", "resources"), ("ports", "ports"), ("env_from", "envFrom")):
            if spec.get(key) is not None:
                container[field] = copy.deepcopy(spec[key])
        env = _env_list(spec.get("env"), where)
        if env:
            container["env"] = env
        delay = spec.get("probe_initial_delay_seconds")
        for key, field in (("readiness_probe", "readinessProbe"), ("liveness_probe", "livenessProbe"),
                           ("startup_probe", "startupProbe")):
            probe = _probe(spec.get(key), "%s.%s" % (where, key))
            if probe is None and delay is not None and key != "startup_probe":
                probe = long_probe(delay)
            if probe is not None:
                container[field] = probe
        mounts = [copy.deepcopy(m) for m in spec.get("volume_mounts") or []]
        for i, pvc in enumerate(spec.get("pvc_mounts") or []):
            mounts.append(self._pvc(pvc, "%s.pvc_mounts[%d]" % (where, i)))
        if mounts:
            container["volumeMounts"] = mounts
        # A prepackaged server's container is created by the operator; the operator merges a container of the
        # same name in the componentSpecs into it field by field, so it is emitted only when it says something.
        if not image and set(container) == {"name"}:
            return None
        return container

    def _pvc(self, pvc, where):
        if not isinstance(pvc, dict) or not pvc.get("claim_name") or not pvc.get("mount_path"):
            raise K8sError("%s: a PVC mount needs claim_name and mount_path" % where)
        volume_name = str(pvc.get("name") or pvc["claim_name"])
        volume = {"name": volume_name, "persistentVolumeClaim": {"claimName": str(pvc["claim_name"])}}
        if pvc.get("read_only"):
            volume["persistentVolumeClaim"]["readOnly"] = True
        known = [v for v in self.volumes if v["name"] == volume_name]
        if not known:
            self.volumes.append(volume)
        elif known[0] != volume:
            raise K8sError("%s: volume %s is mounted with different claims" % (where, volume_name))
        mount = {"name": volume_name, "mountPath": str(pvc["mount_path"])}
        if pvc.get("sub_path"):
            mount["subPath"] = str(pvc["sub_path"])
        if pvc.get("read_only"):
            mount["readOnly"] = True
        return mount


def _merge_containers(base, generated):
    """Containers of component_specs given by the user, completed with the generated ones (user keys win)."""
    by_name = {c.get("name"): c for c in base}
    for container in generated:
        if container["name"] in by_name:
            for key, value in container.items():
                by_name[container["name"]].setdefault(key, value)
        else:
            base.append(container)
    return base


def build_predictor(spec, index, defaults=None):  # noqa: PLR0912, PLR0915 - one step per predictor field
    """One PredictorSpec from the friendly options of a predictor."""
    defaults = defaults or {}
    where = "predictors[%d]" % index
    if not isinstance(spec, dict):
        raise K8sError("%s must be a mapping" % where)
    name = str(spec.get("name") or "default")
    if not _DNS1123.match(name):
        raise K8sError("%s: predictor name %r must be lower case letters, digits and '-'" % (where, name))
    where = "%s (%s)" % (where, name)
    builder = _Builder(name)
    graph_spec = spec.get("graph")
    if graph_spec is not None:
        node_keys = sorted(k for k in _NODE_KEYS - {"name"} if spec.get(k) not in (None, [], {}))
        if node_keys:
            raise K8sError("%s: give the root node either in graph or as %s on the predictor, not both"
                           % (where, ", ".join(node_keys)))
        graph = builder.node(graph_spec, "%s.graph" % where, default_name=spec.get("model_name") or "classifier")
    else:
        root = {k: v for k, v in spec.items() if k in _NODE_KEYS and v is not None}
        root["name"] = spec.get("model_name") or "classifier"
        graph = builder.node(root, where)

    predictor = {"name": name, "graph": graph}
    component_specs = copy.deepcopy(spec.get("component_specs") or [])
    if builder.containers or builder.volumes or spec.get("volumes") or spec.get("pod_service_account_name") \
            or spec.get("image_pull_secrets") or spec.get("node_selector") or spec.get("tolerations"):
        if not component_specs:
            component_specs = [{"spec": {"containers": []}}]
        pod = component_specs[0].setdefault("spec", {})
        pod["containers"] = _merge_containers(pod.get("containers") or [], builder.containers)
        volumes = list(pod.get("volumes") or []) + [copy.deepcopy(v) for v in spec.get("volumes") or []]
        for volume in builder.volumes:
            if volume["name"] not in [v.get("name") for v in volumes]:
                volumes.append(volume)
        if volumes:
            pod["volumes"] = volumes
        if spec.get("pod_service_account_name"):
            pod["serviceAccountName"] = str(spec["pod_service_account_name"])
        if spec.get("image_pull_secrets"):
            pod["imagePullSecrets"] = [{"name": str(s)} if not isinstance(s, dict) else s
                                       for s in spec["image_pull_secrets"]]
        if spec.get("node_selector"):
            pod["nodeSelector"] = copy.deepcopy(spec["node_selector"])
        if spec.get("tolerations"):
            pod["tolerations"] = copy.deepcopy(spec["tolerations"])
    if component_specs:
        predictor["componentSpecs"] = component_specs
    replicas = spec.get("replicas", defaults.get("replicas"))
    if replicas is not None:
        predictor["replicas"] = _check_replicas(replicas, "%s: replicas" % where)
    if spec.get("shadow"):
        predictor["shadow"] = True
    if spec.get("traffic") is not None:
        predictor["traffic"] = int(spec["traffic"])
    for key in ("labels", "annotations"):
        if spec.get(key):
            predictor[key] = {str(k): _str_value(v) for k, v in spec[key].items()}
    if spec.get("engine_resources"):
        predictor["engineResources"] = copy.deepcopy(spec["engine_resources"])
    if spec.get("progress_deadline_seconds") is not None:
        predictor["progressDeadlineSeconds"] = int(spec["progress_deadline_seconds"])
    return predictor


def build_sdep(name, predictors, *, namespace=None, protocol=None, labels=None, annotations=None,
               spec_annotations=None, replicas=None, transport=None):
    """A SeldonDeployment manifest from friendly arguments; raises K8sError with a clear message on bad input."""
    names_.check_label(name, "name", MAX_NAME)
    if namespace:
        names_.check_label(namespace, "namespace")
    if not predictors:
        raise K8sError("predictors: give at least one predictor (or a full definition)")
    if protocol is not None and protocol not in PROTOCOLS:
        raise K8sError("protocol %s is not one of %s" % (protocol, ", ".join(PROTOCOLS)))
    built = [build_predictor(p, i) for i, p in enumerate(predictors)]
    # a single serving predictor takes all the traffic; say so explicitly
    serving = [p for p in built if not p.get("shadow")]
    if len(serving) == 1 and "traffic" not in serving[0]:
        serving[0]["traffic"] = 100
    metadata = {"name": str(name)}
    if namespace:
        metadata["namespace"] = str(namespace)
    if labels:
        metadata["labels"] = {str(k): _str_value(v) for k, v in labels.items()}
    if annotations:
        metadata["annotations"] = {str(k): _str_value(v) for k, v in annotations.items()}
    spec = {}
    if protocol:
        spec["protocol"] = protocol
    if transport:
        spec["transport"] = transport
    if replicas is not None:
        spec["replicas"] = _check_replicas(replicas, "replicas")
    if spec_annotations:
        spec["annotations"] = {str(k): _str_value(v) for k, v in spec_annotations.items()}
    spec["predictors"] = built
    obj = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
    validate_sdep(obj)
    return obj


# -- validation of any SeldonDeployment (built or given as a definition) --------------------------------------
def _walk(node):
    yield node
    for child in node.get("children") or []:
        if isinstance(child, dict):
            yield from _walk(child)


def validate_sdep(obj):  # noqa: PLR0912 - one branch per rule
    """What the operator's webhook would reject, said clearly before anything is sent."""
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        raise K8sError("definition must be a %s (got kind %r)" % (KIND, (obj or {}).get("kind")))
    if not str(obj.get("apiVersion", "")).startswith("machinelearning.seldon.io/"):
        raise K8sError("definition: apiVersion must be %s (got %r)" % (API_VERSION, obj.get("apiVersion")))
    check_metadata(obj)
    if not isinstance(obj.get("spec") or {}, dict):
        raise K8sError("definition: spec must be a mapping, got %s" % describe_shape(obj["spec"]))
    predictors = (obj.get("spec") or {}).get("predictors")
    if not isinstance(predictors, list) or not predictors:
        raise K8sError("spec.predictors: a SeldonDeployment needs at least one predictor")
    names = [p.get("name") for p in predictors if isinstance(p, dict)]
    if len(names) != len(predictors) or not all(names):
        raise K8sError("spec.predictors: every predictor needs a name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise K8sError("spec.predictors: predictor names must be unique (%s used twice)" % ", ".join(dupes))
    serving = [p for p in predictors if not p.get("shadow")]
    shadows = [p for p in predictors if p.get("shadow")]
    if not serving:
        raise K8sError("spec.predictors: every predictor is a shadow; at least one must serve traffic")
    for pred in shadows:
        if pred.get("traffic"):
            raise K8sError("predictor %s is a shadow: it gets a copy of every request and no traffic share "
                           "(remove traffic: %s)" % (pred["name"], pred["traffic"]))
    if len(serving) > 1:
        missing = [p["name"] for p in serving if p.get("traffic") is None]
        if missing:
            raise K8sError("traffic split: predictors %s need a traffic percentage (the non-shadow predictors "
                           "must add up to 100)" % ", ".join(missing))
    traffic = [p.get("traffic", 100 if len(serving) == 1 else 0) for p in serving]
    pairs = list(zip(serving, traffic))  # noqa: B905 - same length; strict= needs Python 3.10
    for pred, value in pairs:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise K8sError("predictor %s: traffic must be an integer from 0 to 100 (got %r)"
                           % (pred["name"], value))
    if len(serving) > 1 and sum(traffic) != 100:
        split = ", ".join("%s=%s" % (p["name"], t) for p, t in pairs)
        raise K8sError("traffic split: the non-shadow predictors must add up to 100, got %d (%s)"
                       % (sum(traffic), split))
    for pred in predictors:
        graph = pred.get("graph")
        if not isinstance(graph, dict) or not graph.get("name"):
            raise K8sError("predictor %s: graph with a name is required" % pred["name"])
        for node in _walk(graph):
            impl = node.get("implementation")
            if impl in PREPACKAGED_SERVERS and not node.get("modelUri"):
                raise K8sError("predictor %s, node %s: implementation %s needs modelUri"
                               % (pred["name"], node.get("name"), impl))
            if node.get("modelUri") is not None:
                check_model_uri(node["modelUri"], "predictor %s, node %s" % (pred["name"], node.get("name")))
    _check_replicas((obj.get("spec") or {}).get("replicas"), "spec.replicas")
    for pred in predictors:
        _check_replicas(pred.get("replicas"), "predictor %s: replicas" % pred["name"])
    return obj


def check_metadata(obj):
    """metadata is a mapping; its name and namespace (URL path segments) are valid when set."""
    meta = obj.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise K8sError("definition: metadata must be a mapping, got %s" % describe_shape(meta))
    if meta.get("name") is not None:
        names_.check_label(meta["name"], "metadata.name", MAX_NAME)
    if meta.get("namespace") is not None:
        names_.check_label(meta["namespace"], "metadata.namespace")


def _check_replicas(value, what):
    """``value`` as an int >= 0 (a string of digits is accepted, as a templated value often is); None stays None."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise K8sError("%s must be a whole number >= 0 (got %r)" % (what, value))
    return limits.check_int(value, what)


def check_model_uri(uri, where):
    """A modelUri the storage initializer can read (see MODEL_URI_SCHEMES); the message names the scheme only."""
    text = uri if isinstance(uri, str) else ""
    scheme, sep, rest = text.partition("://")
    # the bucket, claim or host comes first: s3:///iris names no bucket
    if sep and scheme.lower() in MODEL_URI_SCHEMES and rest.partition("/")[0].strip():
        return uri
    if not sep and _RCLONE_REMOTE.match(text):
        return uri
    shown = "%s://" % scheme if sep else ("a %s" % type(uri).__name__ if not isinstance(uri, str) else repr(text[:40]))
    raise K8sError("%s: modelUri %s is not a location the storage initializer reads; use s3://bucket/path, "
                   "gs://bucket/path, pvc://claim/path, http(s):// (Azure Blob: https://<account>.blob.core.windows.net/"
                   "<container>/path) or an rclone remote <remote>:bucket/path" % (where, shown))


# -- endpoints ----------------------------------------------------------------------------------------------
def is_v2(protocol):
    return protocol in ("v2", "kfserving")


def gateway_path(namespace, name, protocol="seldon", model_name=None):
    """The path of the prediction endpoint behind the ingress gateway (Ambassador / Istio)."""
    base = "/seldon/%s/%s" % (namespace, name)
    if is_v2(protocol):
        return "%s/v2/models/%s/infer" % (base, model_name or "model")
    if protocol == "tensorflow":
        return "%s/v1/models/%s:predict" % (base, model_name or "model")
    return "%s/api/v1.0/predictions" % base


def service_path(protocol="seldon", model_name=None):
    """The same endpoint on a predictor's Service (no gateway prefix)."""
    if is_v2(protocol):
        return "/v2/models/%s/infer" % (model_name or "model")
    if protocol == "tensorflow":
        return "/v1/models/%s:predict" % (model_name or "model")
    return "/api/v1.0/predictions"


def endpoints(obj):
    """{cluster: {predictor: {http, grpc, shadow}}, gateway_path, protocol, model_name, address}."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    name = meta.get("name")
    namespace = meta.get("namespace") or "default"
    protocol = spec.get("protocol") or "seldon"
    cluster = {}
    model_name = None
    for pred in spec.get("predictors") or []:
        host = "%s.%s.svc.cluster.local" % (predictor_service(name, pred), namespace)
        cluster[pred.get("name")] = {
            "http": "http://%s:%d" % (host, EXECUTOR_HTTP_PORT),
            "grpc": "%s:%d" % (host, EXECUTOR_GRPC_PORT),
            "shadow": bool(pred.get("shadow")),
        }
        if model_name is None and not pred.get("shadow"):
            model_name = (pred.get("graph") or {}).get("name")
    out = {
        "cluster": cluster,
        "gateway_path": gateway_path(namespace, name, protocol, model_name),
        "protocol": protocol,
        "model_name": model_name,
    }
    address = ((obj.get("status") or {}).get("address") or {}).get("url")
    if address:
        out["address"] = address
    return out


# -- status -------------------------------------------------------------------------------------------------
def state_of(obj):
    return ((obj or {}).get("status") or {}).get("state")


def component_problems(obj):
    """[(deployment name, text)] for the entries of status.deploymentStatus that are not fully available."""
    out = []
    statuses = ((obj or {}).get("status") or {}).get("deploymentStatus") or {}
    for dep_name in sorted(statuses):
        entry = statuses[dep_name] or {}
        replicas = to_int(entry.get("replicas"))
        available = to_int(entry.get("availableReplicas"))
        text = []
        if entry.get("status") and entry.get("status") != STATE_AVAILABLE:
            text.append("status %s" % entry["status"])
        if available < max(replicas, 1):
            text.append("%d/%d replicas available" % (available, replicas))
        top = (((obj or {}).get("status") or {}).get("description") or "").strip()
        if entry.get("description") and entry["description"].strip() != top:
            text.append(entry["description"])
        if text:
            out.append((dep_name, ", ".join(text)))
    return out


def predictor_of(obj, deployment_name):
    """The predictor a Deployment (or Pod) name belongs to (``<sdep>-<predictor>-<index>-...``), or None."""
    meta = (obj or {}).get("metadata") or {}
    best = None
    for pred in ((obj or {}).get("spec") or {}).get("predictors") or []:
        prefix = "%s-%s-" % (meta.get("name"), pred.get("name"))
        if deployment_name.startswith(prefix) and (best is None or len(prefix) > len(best[1])):
            best = (pred.get("name"), prefix)
    return best[0] if best else None


def _component_label(obj, deployment_name):
    pred = predictor_of(obj, deployment_name)
    return "predictor %s (Deployment %s)" % (pred, deployment_name) if pred else "Deployment %s" % deployment_name


def describe_status(obj, skip=()):
    """One line: state, description and the components (except the Deployments in ``skip``) not available."""
    if obj is None:
        return "the SeldonDeployment does not exist"
    status = obj.get("status") or {}
    if not status.get("state"):
        return "no status yet (is the Seldon Core operator running and watching this namespace?)"
    text = "state %s" % status["state"]
    if status.get("description"):
        text += ": %s" % status["description"].strip()
    problems = [(d, t) for d, t in component_problems(obj) if d not in skip]
    if problems:
        text += "; " + "; ".join("%s: %s" % (_component_label(obj, d), t) for d, t in problems)
    return text


def status_check(obj):
    """(done, failed_reason): done when Available; failed_reason (naming the component) when Failed."""
    state = state_of(obj)
    if state == STATE_AVAILABLE:
        return True, None
    if state == STATE_FAILED:
        status = obj.get("status") or {}
        reason = (status.get("description") or "").strip() or "the operator gave no description"
        problems = component_problems(obj)
        if problems:
            reason += "; failing: " + "; ".join("%s: %s" % (_component_label(obj, d), t) for d, t in problems)
        return False, reason
    return False, None


# -- freshness: do not trust an Available written before our change -------------------------------------------
class Freshness:
    """Decides whether the status seen belongs to the spec we applied.

    Seldon Core v1 writes no ``observedGeneration``. When the status has one (``duckv1.Status`` is inlined in the
    upstream type, so an operator may set it), it must reach the generation we applied. Otherwise the
    status must have changed since our apply (the operator goes Available -> Creating -> Available on a spec
    change), or, after ``settle`` seconds, the predictor Deployments must have observed their latest generation
    and finished rolling out.
    """

    def __init__(self, applied=None, spec_changed=True, settle=10.0, clock=time.monotonic):
        applied = applied or {}
        self.generation = to_int((applied.get("metadata") or {}).get("generation"))
        self.applied_status = copy.deepcopy(applied.get("status"))
        self.uid = (applied.get("metadata") or {}).get("uid")
        self.spec_changed = spec_changed
        self.seen_change = not spec_changed
        self.settle = settle
        self.clock = clock
        self.start = clock()
        self.deployments_ok = False

    def fresh(self, obj):
        if self.seen_change or obj is None:
            return True
        status = obj.get("status") or {}
        if "observedGeneration" in status:
            self.seen_change = to_int(status.get("observedGeneration")) >= self.generation
            return self.seen_change
        if (obj.get("metadata") or {}).get("uid") != self.uid or status != (self.applied_status or {}):
            self.seen_change = True
        return self.seen_change or self.deployments_ok

    def settled(self):
        return self.clock() - self.start >= self.settle


def deployments_rolled_out(client, name, namespace):
    """(ok, detail): every Deployment of the SeldonDeployment observed its generation and rolled out."""
    resource = client.find_resource("apps/v1", "Deployment")
    if resource is None:
        return False, "no Deployments API"
    try:
        items = client.list(resource, namespace, label_selector="%s=%s" % (LABEL_SELDON_ID, seldon_id(name)))["items"]
    except K8sError as err:
        if err.status != 403:
            raise
        raise K8sError("cannot confirm that the predictor Deployments of %s rolled out: listing Deployments (apps) in "
                       "namespace %s is forbidden (403); the account needs get and list on deployments, as the "
                       "seldon-deployer and pipeline presets of mlops.k8s.service_account grant"
                       % (ref(KIND, namespace, name), namespace), status=403, reason="Forbidden") from None
    if not items:
        return False, "no predictor Deployment yet"
    for dep in items:
        done, detail = waiter.rollout_status(dep)
        if not done:
            return False, "Deployment %s: %s" % (dep["metadata"]["name"], detail)
    return True, "%d Deployment(s) rolled out" % len(items)


# -- explanation --------------------------------------------------------------------------------------------
def _deployment_issues(dep):
    status = dep.get("status") or {}
    spec = dep.get("spec") or {}
    issues = []
    wanted = to_int(spec.get("replicas", 1))
    available = to_int(status.get("availableReplicas"))
    if available < wanted:
        issues.append("%d/%d replicas available" % (available, wanted))
    for cond in waiter.conditions_of(dep):
        bad = cond.get("status") != "True" or cond.get("type") == "ReplicaFailure"
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            bad = True
        if cond.get("reason") == "MinimumReplicasUnavailable":
            bad = False  # the replica count above says it
        if bad and (cond.get("reason") or cond.get("message")):
            issues.append("%s=%s %s: %s" % (cond.get("type"), cond.get("status"), cond.get("reason") or "",
                                            cond.get("message") or ""))
    return issues


def _container_issues(pod, crashloop_restarts):
    """([text], fatal text or None) for a Pod's init and app containers."""
    issues = diag.scheduling_problems(pod)
    fatal = None
    for label, cs in diag.containers(pod):
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        restarts = to_int(cs.get("restartCount"))
        cname = "%s %s" % (label, cs.get("name"))
        waiting, terminated = diag.waiting_problem(cs), diag.failed_exit(cs)
        if waiting:
            text = "%s %s" % (cname, waiting.get("reason"))
            if restarts:
                text += " (restarts: %d)" % restarts
            if waiting.get("message"):
                text += ": %s" % short(waiting["message"])
            if last:
                text += "; last exit %s%s" % (last.get("exitCode"), (" (%s)" % last["reason"])
                                              if last.get("reason") else "")
                if last.get("message"):
                    text += ": %s" % short(last["message"])
            issues.append(text)
            if diag.is_fatal(cs, crashloop_restarts):
                fatal = fatal or text
        elif terminated:
            why = " (%s)" % terminated["reason"] if terminated.get("reason") else ""
            text = "%s terminated with exit %s%s" % (cname, terminated.get("exitCode"), why)
            if terminated.get("message"):
                text += ": %s" % short(terminated["message"])
            issues.append(text)
        elif label == "container" and "running" in state and not cs.get("ready"):
            issues.append("%s running but not ready (readiness probe not passing yet%s)"
                          % (cname, ", restarts: %d" % restarts if restarts else ""))
    return issues, fatal


def explain(client, name, namespace, obj=None, crashloop_restarts=diag.CRASHLOOP_RESTARTS):
    """Why the SeldonDeployment is not Available, gathered from the namespace (best effort, never raises).

    Returns {summary, state, description, components: [{predictor, deployment, issues, pods: [{name, issues}]}],
    events: [str], notes: [str], fatal: str or None (a Pod that cannot start)}.
    """
    notes = []
    if obj is None:
        try:
            resource = client.find_resource(API_VERSION, KIND)
            obj = client.get(resource, name, namespace) if resource is not None else None
        except K8sError as err:
            notes.append("cannot read the SeldonDeployment: %s" % err.msg)
    selector = "%s=%s" % (LABEL_SELDON_ID, seldon_id(name))
    deployments = diag.safe_list(client, "apps/v1", "Deployment", namespace, label_selector=selector, notes=notes)
    pods = diag.safe_list(client, "v1", "Pod", namespace, label_selector=selector, notes=notes)
    replica_sets = diag.safe_list(client, "apps/v1", "ReplicaSet", namespace, label_selector=selector) if pods else []
    events = diag.safe_list(client, "v1", "Event", namespace, field_selector="type=Warning", notes=notes)

    components = []
    fatal = None
    involved = {name}
    known_pods = set()
    for dep in sorted(deployments, key=lambda d: d["metadata"]["name"]):
        dep_name = dep["metadata"]["name"]
        involved.add(dep_name)
        entry = {"predictor": predictor_of(obj, dep_name) if obj else None, "deployment": dep_name,
                 "issues": _deployment_issues(dep), "pods": []}
        current = diag.newest_template_hash(dep_name, replica_sets)
        for pod in pods:
            pmeta = pod.get("metadata") or {}
            if (pmeta.get("labels") or {}).get("app") == dep_name or pmeta.get("name", "").startswith(dep_name + "-"):
                known_pods.add(pmeta.get("name"))
                pod_hash = (pmeta.get("labels") or {}).get("pod-template-hash")
                entry["pods"].append(_pod_entry(pod, crashloop_restarts,
                                                old=bool(current and pod_hash and pod_hash != current)))
        components.append(entry)
    orphans = [p for p in pods if (p.get("metadata") or {}).get("name") not in known_pods]
    if orphans:
        components.append({"predictor": None, "deployment": None, "issues": [],
                           "pods": [_pod_entry(p, crashloop_restarts) for p in orphans]})
    for comp in components:
        for pod in comp["pods"]:
            involved.add(pod["name"])
            fatal = fatal or (pod["fatal"] and "pod %s: %s" % (pod["name"], pod["fatal"]))

    def concerns(event):  # ReplicaSets are named <deployment>-<hash>: keep their events too
        tname = diag.event_target(event).get("name") or ""
        return tname in involved or any(tname.startswith(d + "-") for d in involved if d != name)

    warning_events = diag.warning_events(events, concerns, MAX_EVENTS, with_count=True)
    status = (obj or {}).get("status") or {}
    explanation = {
        "state": status.get("state"),
        "description": status.get("description"),
        "components": components,
        "events": warning_events,
        "notes": notes,
        "fatal": fatal,
    }
    explanation["summary"] = summarize_explanation(obj, explanation, name, namespace)
    return explanation


def _pod_entry(pod, crashloop_restarts, old=False):
    """A Pod's issues; a Pod of an older ReplicaSet (being replaced) never makes the wait give up."""
    issues, fatal = _container_issues(pod, crashloop_restarts)
    phase = (pod.get("status") or {}).get("phase")
    return {"name": (pod.get("metadata") or {}).get("name"), "phase": phase, "issues": issues, "old": old,
            "fatal": None if old else fatal}


def summarize_explanation(obj, explanation, name=None, namespace=None):
    """The explanation as one readable paragraph."""
    parts = []
    if obj is not None:  # the Deployments found in the namespace are described below, from their own status
        parts.append(describe_status(obj, skip={c["deployment"] for c in explanation.get("components") or []}))
    for comp in explanation.get("components") or []:
        lines = []
        if comp.get("issues"):
            lines.append(", ".join(comp["issues"]))
        for pod in comp.get("pods") or []:
            label = "pod %s%s" % (pod["name"], " (old revision, being replaced)" if pod.get("old") else "")
            if pod["issues"]:
                lines.append("%s: %s" % (label, "; ".join(pod["issues"])))
            elif pod.get("phase") not in (None, "Running", "Succeeded"):
                lines.append("%s: phase %s" % (label, pod["phase"]))
        if lines:
            label = _component_label(obj, comp["deployment"]) if comp.get("deployment") else "other pods"
            parts.append("%s: %s" % (label, "; ".join(lines)))
    if not any(c.get("deployment") for c in explanation.get("components") or []):
        parts.append("no predictor Deployment exists for it yet (label %s=%s in namespace %s): the operator has not "
                     "reconciled it; check that the Seldon Core operator is running and watches this namespace"
                     % (LABEL_SELDON_ID, seldon_id(name or ""), namespace))
    if explanation.get("events"):
        parts.append("recent warnings: " + " | ".join(explanation["events"]))
    if explanation.get("notes"):
        parts.append("(" + "; ".join(explanation["notes"]) + ")")
    return ". ".join(p.rstrip(".") for p in parts if p)


# -- waiting ------------------------------------------------------------------------------------------------
def wait_available(client, name, namespace, *, applied=None, spec_changed=True, timeout=600, fail_fast=True,
                   crashloop_restarts=diag.CRASHLOOP_RESTARTS, tick=5.0, settle=10.0, clock=time.monotonic,
                   sleep=time.sleep):
    """Watch until the SeldonDeployment is Available after our change; return the waiter.WaitResult.

    Raises SeldonError (reason Failed) when the state is Failed or, with ``fail_fast``, a Pod cannot start
    (image pull errors, CrashLoopBackOff after ``crashloop_restarts`` restarts, bad container config), and
    (reason Timeout) after ``timeout`` seconds; the message carries the explanation from ``explain``.
    """
    resource = client.resource(API_VERSION, KIND)
    what = ref(KIND, namespace, name)
    freshness = Freshness(applied, spec_changed, settle=settle, clock=clock)
    start = clock()
    deadline = start + max(0, timeout)

    def check(obj):
        if obj is None:
            return False, "the SeldonDeployment does not exist"
        fresh = freshness.fresh(obj)  # every status seen counts: Failed -> Creating -> Failed is a new Failed
        done, _failed = status_check(obj)
        if done and not fresh:
            return False, "state Available is from before this change; waiting for the operator to reconcile it"
        return done, describe_status(obj)

    failed_object = []

    def failure(obj):
        fresh = freshness.fresh(obj)
        _done, failed = status_check(obj)
        if failed and fresh:
            failed_object.append(obj)
            return failed
        return None

    current = applied  # the first round may find the object Available as applied (unchanged): no request
    while True:
        remaining = deadline - clock()
        try:
            result = waiter.wait_for(client, resource, name, namespace, check=check, failure=failure,
                                     timeout=max(0.0, min(tick, remaining)), description="state Available",
                                     clock=clock, sleep=sleep, current=current)
            result.elapsed = clock() - start
            return result
        except SeldonError:
            raise
        except WaitFailed:
            obj = failed_object[-1] if failed_object else _get(client, resource, name, namespace)
            expl = explain(client, name, namespace, obj, crashloop_restarts)
            raise SeldonError("%s failed: %s" % (what, expl["summary"]), reason="Failed", explanation=expl,
                              obj=obj) from None
        except WaitTimeout:
            pass  # one tick of the wait: look at the object, then wait again until the deadline
        current = None
        obj = _get(client, resource, name, namespace)
        done, _failed = status_check(obj)
        if done and not freshness.fresh(obj) and freshness.settled():
            ok, _detail = deployments_rolled_out(client, name, namespace)
            if ok:
                freshness.deployments_ok = True
                continue  # the next wait_for sees it done at once
        if clock() >= deadline:
            expl = explain(client, name, namespace, obj, crashloop_restarts)
            raise SeldonError("timed out after %ss waiting for %s to be Available: %s"
                              % (seconds(timeout), what, expl["summary"]), reason="Timeout", explanation=expl,
                              obj=obj) from None
        if fail_fast and not done and freshness.fresh(obj):
            expl = explain(client, name, namespace, obj, crashloop_restarts)
            if expl["fatal"]:
                raise SeldonError("%s cannot become Available: %s. %s" % (what, expl["fatal"], expl["summary"]),
                                  reason="Failed", explanation=expl, obj=obj) from None


def _get(client, resource, name, namespace):
    try:
        return client.get(resource, name, namespace)
    except K8sError:
        return None
