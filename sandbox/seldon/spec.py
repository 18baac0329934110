"""What the Seldon Core v1 operator (1.18) makes of a SeldonDeployment: defaulting, validation, and the
Deployments and Services (with their Ambassador annotations) it owns. Pure functions of the SeldonDeployment
and the operator's configuration (its container env and the seldon-config ConfigMap); no API access here.

Names, labels, ports, env and probes follow operator/controllers/seldondeployment_controller.go,
seldondeployment_prepackaged_servers.go, ambassador.go and model_initializer_injector.go of seldon-core 1.18.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field

import yaml

GROUP = "machinelearning.seldon.io"
SDEPS = (GROUP, "seldondeployments")

LABEL_SELDON_ID = "seldon-deployment-id"
LABEL_SELDON_APP = "seldon-app"
LABEL_SELDON_APP_SVC = "seldon-app-svc"
LABEL_SVC_ORCH = "seldon-deployment-contains-svcorch"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_VALUE_SELDON = "seldon-core"
LABEL_CONTROLLER_ID = "seldon.io/controller-id"
AMBASSADOR_ANNOTATION = "getambassador.io/config"

ENGINE_CONTAINER = "seldon-container-engine"
ENGINE_HTTP_PORT = 8000
ENGINE_GRPC_PORT = 5001
MODEL_MOUNT = "/mnt/models"
PVC_SOURCE_VOLUME = "kfserving-pvc-source"
PVC_SOURCE_MOUNT = "/mnt/pvc"
METRICS_PORT = 6000

PREPACKAGED = ("SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "MLFLOW_SERVER", "TRITON_SERVER",
               "HUGGINGFACE_SERVER", "TEMPO_SERVER")
# seldon-config defaults of the upstream chart, used when the ConfigMap lacks an entry
DEFAULT_SERVERS = {
    "SKLEARN_SERVER": {"seldon": ("docker.io/seldonio/sklearnserver", "1.18.2"),
                       "v2": ("docker.io/seldonio/mlserver", "1.3.5-sklearn")},
    "XGBOOST_SERVER": {"seldon": ("docker.io/seldonio/xgboostserver", "1.18.2"),
                       "v2": ("docker.io/seldonio/mlserver", "1.3.5-xgboost")},
    "MLFLOW_SERVER": {"seldon": ("docker.io/seldonio/mlflowserver", "1.18.2"),
                      "v2": ("docker.io/seldonio/mlserver", "1.3.5-mlflow")},
    "TENSORFLOW_SERVER": {"seldon": ("docker.io/seldonio/tfserving-proxy", "1.18.2"),
                          "tensorflow": ("docker.io/tensorflow/serving", "2.1.0")},
    "TRITON_SERVER": {"v2": ("nvcr.io/nvidia/tritonserver", "21.08-py3")},
    "HUGGINGFACE_SERVER": {"v2": ("docker.io/seldonio/mlserver", "1.3.5-huggingface")},
    "TEMPO_SERVER": {"v2": ("docker.io/seldonio/mlserver", "1.3.5-slim")},
}
MLSERVER_IMPLEMENTATIONS = {"SKLEARN_SERVER": "mlserver_sklearn.SKLearnModel",
                            "XGBOOST_SERVER": "mlserver_xgboost.XGBoostModel",
                            "MLFLOW_SERVER": "mlserver_mlflow.MLflowRuntime",
                            "HUGGINGFACE_SERVER": "mlserver_huggingface.HuggingFaceRuntime",
                            "TEMPO_SERVER": "tempo.mlserver.InferenceRuntime"}


# implemented by the executor itself: no container
BUILTIN_IMPLEMENTATIONS = ("SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER")


class SpecError(ValueError):
    """The SeldonDeployment cannot be turned into resources (the operator's InternalError)."""


@dataclass
class OperatorConfig:
    """The operator's settings, read from its Deployment (container env/args) and the seldon-config ConfigMap."""
    namespace: str = "seldon-system"
    name: str = "seldon-controller-manager"
    watch_namespace: str = ""
    controller_id: str = ""
    ambassador: bool = True
    ambassador_single_namespace: bool = False
    http_port: int = 9000
    grpc_port: int = 9500
    default_env_secret: str = ""
    executor_image: str = "docker.io/seldonio/seldon-core-executor:1.18.2"
    executor_resources: dict = field(default_factory=lambda: {"requests": {"cpu": "500m", "memory": "512Mi"},
                                                              "limits": {"cpu": "500m", "memory": "512Mi"}})
    executor_user: int | None = 8888
    default_user: int | None = 8888
    request_logger: str = "http://default-broker"
    full_health_checks: bool = False
    servers: dict = field(default_factory=dict)          # seldon-config predictor_servers (parsed)
    # Upstream's webhook and controller read predictor_servers through the manager's cache, which --namespace /
    # WATCH_NAMESPACE limit to the watched namespace: seldon-config in another namespace (the operator's) is not
    # found and every prepackaged server is rejected ("No entry in predictors map"). The storage initializer is read
    # with a direct client (model_initializer_injector.go) and is found.
    servers_readable: bool = True
    storage_initializer: dict = field(default_factory=dict)

    @classmethod
    def from_objects(cls, deploy: dict, config_map: dict | None) -> OperatorConfig:
        cfg = cls(namespace=deploy["metadata"].get("namespace", ""), name=deploy["metadata"]["name"])
        containers = ((deploy.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        con = next((c for c in containers if c.get("name") == "manager"), containers[0] if containers else {})
        env = {e["name"]: e.get("value", "") for e in con.get("env") or [] if "name" in e and "valueFrom" not in e}
        for a in con.get("args") or []:
            if isinstance(a, str) and a.startswith("--namespace="):
                cfg.watch_namespace = a.split("=", 1)[1]
        cfg.watch_namespace = env.get("WATCH_NAMESPACE", "") or cfg.watch_namespace
        cfg.servers_readable = not cfg.watch_namespace or cfg.watch_namespace == cfg.namespace
        cfg.controller_id = env.get("CONTROLLER_ID", "")
        cfg.ambassador = env.get("AMBASSADOR_ENABLED", "true").lower() == "true"
        cfg.ambassador_single_namespace = env.get("AMBASSADOR_SINGLE_NAMESPACE", "false").lower() == "true"
        cfg.http_port = _int(env.get("PREDICTIVE_UNIT_HTTP_SERVICE_PORT"), 9000)
        cfg.grpc_port = _int(env.get("PREDICTIVE_UNIT_GRPC_SERVICE_PORT"), 9500)
        cfg.default_env_secret = env.get("PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME", "")
        cfg.executor_image = env.get("EXECUTOR_CONTAINER_IMAGE_AND_VERSION") or cfg.executor_image
        cfg.request_logger = env.get("EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT") or cfg.request_logger
        cfg.full_health_checks = env.get("EXECUTOR_FULL_HEALTH_CHECKS", "false").lower() == "true"
        cfg.executor_user = _int(env.get("EXECUTOR_CONTAINER_USER"), 8888)
        cfg.default_user = _int(env.get("DEFAULT_USER_ID"), 8888)
        res = copy.deepcopy(cfg.executor_resources)
        for env_name, path in (("EXECUTOR_DEFAULT_CPU_REQUEST", ("requests", "cpu")),
                               ("EXECUTOR_DEFAULT_MEMORY_REQUEST", ("requests", "memory")),
                               ("EXECUTOR_DEFAULT_CPU_LIMIT", ("limits", "cpu")),
                               ("EXECUTOR_DEFAULT_MEMORY_LIMIT", ("limits", "memory"))):
            if env.get(env_name):
                res[path[0]][path[1]] = env[env_name]
        cfg.executor_resources = res
        data = (config_map or {}).get("data") or {}
        for key, attr in (("predictor_servers", "servers"), ("storageInitializer", "storage_initializer")):
            try:
                val = json.loads(data.get(key) or "{}")
            except ValueError:
                val = {}
            setattr(cfg, attr, val if isinstance(val, dict) else {})
        return cfg

    def watches(self, sdep: dict) -> bool:
        """Whether this operator handles the SeldonDeployment (watch namespace, controller id)."""
        m = sdep["metadata"]
        if self.watch_namespace and m.get("namespace") != self.watch_namespace:
            return False
        cid = (m.get("labels") or {}).get(LABEL_CONTROLLER_ID, "")
        return cid == self.controller_id

    def server_image(self, implementation: str, protocol: str) -> str:
        if not self.servers_readable:
            raise SpecError(f"No entry in predictors map for {implementation}")
        proto_key = {"seldon": "seldon", "v2": "v2", "kfserving": "v2", "tensorflow": "tensorflow"}.get(protocol,
                                                                                                        protocol)
        entry = ((self.servers.get(implementation) or {}).get("protocols") or {}).get(proto_key)
        if entry and entry.get("image"):
            return f"{entry['image']}:{entry.get('defaultImageVersion') or 'latest'}"
        default = (DEFAULT_SERVERS.get(implementation) or {}).get(proto_key)
        if default:
            return f"{default[0]}:{default[1]}"
        raise SpecError(f"no image for prepackaged server {implementation} with protocol {protocol} in "
                        f"seldon-config predictor_servers")

    def server_for_image(self, image: str) -> str | None:
        """Reverse lookup: the prepackaged implementation whose seldon-config image this is."""
        for impl, entry in self.servers.items():
            for p in ((entry or {}).get("protocols") or {}).values():
                if p.get("image") and _repo(image) == _repo(f"{p['image']}:{p.get('defaultImageVersion', '')}") \
                        and image.rsplit(":", 1)[-1] == str(p.get("defaultImageVersion", "")):
                    return impl
        return None

    def initializer_image(self) -> str:
        return self.storage_initializer.get("image") or "docker.io/seldonio/rclone-storage-initializer:1.18.2"


def _repo(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)
    if ":" in last[-1]:
        ref = ref.rsplit(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    return ref


def _int(v, default):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def protocol_of(sdep: dict) -> str:
    p = ((sdep.get("spec") or {}).get("protocol") or "seldon").lower()
    return "v2" if p == "kfserving" else p


def graph_nodes(node: dict) -> list[dict]:
    out = [node]
    for child in node.get("children") or []:
        out.extend(graph_nodes(child))
    return out


def predictor_key(sdep: dict, p: dict) -> str:
    """GetPredictorKey: <sdep>-<predictor> (hashed when too long for a Service name)."""
    return _k8s_name(f"{sdep['metadata']['name']}-{p['name']}")


def container_service_name(sdep: dict, p: dict, container: str) -> str:
    return _k8s_name(f"{sdep['metadata']['name']}-{p['name']}-{container}")


def deployment_name(sdep: dict, p: dict, cspec: dict, idx: int) -> str:
    explicit = ((cspec or {}).get("metadata") or {}).get("name")
    if explicit:
        return explicit
    name = f"{sdep['metadata']['name']}-{p['name']}-{idx}"
    for c in ((cspec or {}).get("spec") or {}).get("containers") or []:
        name += "-" + c.get("name", "")
    return _k8s_name(name.rstrip("-"))


def _k8s_name(name: str) -> str:
    if len(name) <= 63:
        return name
    return "seldon-" + hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - a name, not security


def is_prepackaged(node: dict) -> bool:
    return (node.get("implementation") or "") in PREPACKAGED


# -- defaulting / validation --------------------------------------------------------------------------------
def default(sdep: dict, cfg: OperatorConfig) -> dict:
    """A defaulted deep copy (DefaultSeldonDeployment): predictor traffic, graph endpoints and ports, a container
    for each prepackaged node without one."""
    sdep = copy.deepcopy(sdep)
    spec = sdep.setdefault("spec", {})
    preds = spec.get("predictors") or []
    if len(preds) == 1 and not preds[0].get("traffic") and not preds[0].get("shadow"):
        preds[0]["traffic"] = 100
    for p in preds:
        p["componentSpecs"] = [c or {} for c in p.get("componentSpecs") or []]
        for cs in p["componentSpecs"]:
            cs.setdefault("spec", {}).setdefault("containers", [])
        graph = p.get("graph") or {}
        _default_nodes(p, graph, cfg)
        # localhost for the nodes in the same pod as the root (they get the engine)
        root_cs = _engine_cspec(p, graph)
        for node in graph_nodes(graph):
            ep = node["endpoint"]
            if _cspec_index(p, node.get("name", "")) == root_cs:
                ep["service_host"] = "localhost"
            else:
                ep["service_host"] = container_service_name(sdep, p, node.get("name", ""))
    return sdep


def _default_nodes(p: dict, graph: dict, cfg: OperatorConfig) -> None:
    """Endpoint type and ports for every graph node; a container for prepackaged nodes that have none."""
    port_http, port_grpc = cfg.http_port, cfg.grpc_port
    for node in graph_nodes(graph):
        ep = node.setdefault("endpoint", {})
        ep.setdefault("type", "REST")
        if is_prepackaged(node):
            node.setdefault("type", "MODEL")
        ep["httpPort"] = ep.get("httpPort") or port_http
        ep["grpcPort"] = ep.get("grpcPort") or port_grpc
        port_http, port_grpc = max(port_http, ep["httpPort"]) + 1, max(port_grpc, ep["grpcPort"]) + 1
        if is_prepackaged(node) and _container(p, node.get("name", "")) is None:
            con = {"name": node.get("name", "")}
            if p["componentSpecs"]:
                p["componentSpecs"][0]["spec"]["containers"].append(con)
            else:
                p["componentSpecs"].append({"spec": {"containers": [con]}})


def _container(p: dict, name: str) -> dict | None:
    for cs in p.get("componentSpecs") or []:
        for c in (cs.get("spec") or {}).get("containers") or []:
            if c.get("name") == name:
                return c
    return None


def _engine_cspec(p: dict, graph: dict) -> int | None:
    """The componentSpec whose Deployment gets the executor: the root node's, else (a built-in root such as
    RANDOM_ABTEST) the first one with containers."""
    idx = _cspec_index(p, graph.get("name", ""))
    if idx is None:
        idx = next((i for i, cs in enumerate(p.get("componentSpecs") or [])
                    if (cs.get("spec") or {}).get("containers")), None)
    return idx


def _cspec_index(p: dict, name: str) -> int | None:
    for i, cs in enumerate(p.get("componentSpecs") or []):
        for c in (cs.get("spec") or {}).get("containers") or []:
            if c.get("name") == name:
                return i
    return None


def validate(sdep: dict) -> None:
    """The admission webhook's checks (the sandbox calls no webhooks, so the operator reports them)."""
    preds = (sdep.get("spec") or {}).get("predictors") or []
    if not preds:
        raise SpecError("the SeldonDeployment has no predictors")
    names = [p.get("name") for p in preds]
    if any(not n for n in names):
        raise SpecError("every predictor needs a name")
    if len(set(names)) != len(names):
        raise SpecError(f"duplicate predictor names: {names}")
    live = [p for p in preds if not p.get("shadow")]
    if len(live) > 1:
        total = sum(int(p.get("traffic") or 0) for p in live)
        if total != 100:
            raise SpecError(f"Traffic must sum to 100 for multiple predictors (got {total})")
    proto = protocol_of(sdep)
    if proto not in ("seldon", "v2", "tensorflow"):
        raise SpecError(f"unknown protocol {proto!r}")
    for p in preds:
        graph = p.get("graph")
        if not graph or not graph.get("name"):
            raise SpecError(f"predictor {p['name']}: graph with a name is required")
        for node in graph_nodes(graph):
            if not is_prepackaged(node) and node.get("implementation") not in BUILTIN_IMPLEMENTATIONS and \
                    _container(p, node.get("name", "")) is None:
                raise SpecError(f"Can't find container for Predictive Unit with name {node.get('name')}")


# -- resources ----------------------------------------------------------------------------------------------
@dataclass
class Desired:
    deployments: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    service_status: dict = field(default_factory=dict)
    address: str = ""
    predictor_of: dict = field(default_factory=dict)     # deployment name -> predictor name


def build(sdep_in: dict, cfg: OperatorConfig) -> Desired:
    validate(sdep_in)
    sdep = default(sdep_in, cfg)
    validate(sdep)
    ns = sdep["metadata"]["namespace"]
    proto = protocol_of(sdep)
    out = Desired()
    preds = sdep["spec"]["predictors"]
    for pi, p in enumerate(preds):
        psvc = predictor_key(sdep, p)
        graph = p["graph"]
        root_cs = _engine_cspec(p, graph)
        for j, cs in enumerate(p["componentSpecs"]):
            if not cs["spec"].get("containers"):
                continue
            dname = deployment_name(sdep, p, cs, j)
            dep = _deployment(sdep, p, cs, dname, cfg)
            out.predictor_of[dname] = p["name"]
            tpl = dep["spec"]["template"]
            for k, con in enumerate(tpl["spec"]["containers"]):
                node = next((n for n in graph_nodes(graph) if n.get("name") == con["name"]), None)
                if node is None:
                    continue
                _label_for_node(dep, node, p, preds)
                svc = _container_service(sdep, p, con, node, dep, metrics_port=METRICS_PORT + k)
                out.services.append(svc)
                out.service_status[svc["metadata"]["name"]] = {
                    "svcName": svc["metadata"]["name"],
                    "httpEndpoint": f"{svc['metadata']['name']}.{ns}:{node['endpoint']['httpPort']}",
                    "grpcEndpoint": f"{svc['metadata']['name']}.{ns}:{node['endpoint']['grpcPort']}"}
                if is_prepackaged(node):
                    _prepackaged(node, con, tpl["spec"], cfg, proto)
                elif node.get("modelUri"):
                    _model_initializer(con, tpl["spec"], cfg, uri=node["modelUri"],
                                       secret=node.get("envSecretRefName") or cfg.default_env_secret,
                                       image=node.get("storageInitializerImage") or cfg.initializer_image())
            if j == root_cs:
                if no_engine(p):   # the root container is the predictor's entry point
                    _set_label(dep, LABEL_SELDON_APP, psvc, selector=True)
                else:
                    _add_engine(sdep, p, dep, cfg, proto=proto, psvc=psvc)
            out.deployments.append(dep)
        http, grpc = ENGINE_HTTP_PORT, ENGINE_GRPC_PORT
        if no_engine(p):
            http, grpc = graph["endpoint"]["httpPort"], graph["endpoint"]["grpcPort"]
        out.services.append(_predictor_service(sdep, p, psvc, cfg, preds, ports=(http, grpc)))
        out.service_status[psvc] = {"svcName": psvc, "httpEndpoint": f"{psvc}.{ns}:{http}",
                                    "grpcEndpoint": f"{psvc}.{ns}:{grpc}"}
        if pi == 0:
            path = {"seldon": "/api/v1.0/predictions", "tensorflow": "/v1/models/:predict",
                    "v2": f"/v2/models/{graph['name']}/infer"}.get(proto, "/api/v1.0/predictions")
            out.address = f"http://{psvc}.{ns}.svc.cluster.local:{http}{path}"
    for d in out.deployments + out.services:
        d["metadata"]["namespace"] = ns
    return out


def _deployment(sdep: dict, p: dict, cs: dict, dname: str, cfg: OperatorConfig) -> dict:
    sid = sdep["metadata"]["name"]
    labels = {LABEL_SELDON_ID: sid, "app": dname, "fluentd": "true"}
    labels.update({k: str(v) for k, v in (p.get("labels") or {}).items()})
    labels.update({k: str(v) for k, v in ((cs.get("metadata") or {}).get("labels") or {}).items()})
    pod_ann = {"prometheus.io/path": "/prometheus", "prometheus.io/scrape": "true"}
    pod_ann.update({k: str(v) for k, v in ((cs.get("metadata") or {}).get("annotations") or {}).items()})
    pod_spec = copy.deepcopy(cs["spec"])
    if cfg.default_user is not None and not pod_spec.get("securityContext"):
        pod_spec["securityContext"] = {"runAsUser": cfg.default_user}
    pod_spec.setdefault("terminationGracePeriodSeconds", 20)
    for c in pod_spec["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    replicas = cs.get("replicas", p.get("replicas", (sdep.get("spec") or {}).get("replicas", 1)))
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": dname, "labels": dict(labels),
                        "annotations": {k: str(v) for k, v in ((sdep.get("spec") or {}).get("annotations")
                                                               or {}).items()}},
           "spec": {"replicas": 1 if replicas is None else int(replicas),
                    "selector": {"matchLabels": {LABEL_SELDON_ID: sid}},
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "template": {"metadata": {"labels": dict(labels), "annotations": pod_ann},
                                 "spec": pod_spec}}}
    if not dep["metadata"]["annotations"]:
        del dep["metadata"]["annotations"]
    return dep


def _set_label(dep: dict, k: str, v: str, selector: bool = False) -> None:
    dep["metadata"]["labels"][k] = v
    dep["spec"]["template"]["metadata"]["labels"][k] = v
    if selector:
        dep["spec"]["selector"]["matchLabels"][k] = v


def _label_for_node(dep: dict, node: dict, p: dict, preds: list[dict]) -> None:
    t = (node.get("type") or "MODEL").upper()
    key = {"MODEL": "seldon.io/model", "ROUTER": "seldon.io/router", "COMBINER": "seldon.io/combiner",
           "TRANSFORMER": "seldon.io/transformer", "OUTPUT_TRANSFORMER": "seldon.io/output-transformer"}.get(t)
    if key:
        _set_label(dep, key, "true")
    if p.get("shadow"):
        _set_label(dep, "seldon.io/shadow", "true")
    elif len(preds) > 1 and int(p.get("traffic") or 0) < 50:
        _set_label(dep, "seldon.io/canary", "true")
    else:
        _set_label(dep, "seldon.io/default", "true")


def _container_service(sdep: dict, p: dict, con: dict, node: dict, dep: dict, *, metrics_port: int) -> dict:
    sname = container_service_name(sdep, p, con["name"])
    ep = node["endpoint"]
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": sname, "labels": {LABEL_SELDON_APP_SVC: sname,
                                                  LABEL_SELDON_ID: sdep["metadata"]["name"],
                                                  LABEL_SELDON_APP: predictor_key(sdep, p)}},
           "spec": {"type": "ClusterIP", "sessionAffinity": "None", "selector": {LABEL_SELDON_APP_SVC: sname},
                    "ports": [{"name": "http", "protocol": "TCP", "port": ep["httpPort"],
                               "targetPort": ep["httpPort"]},
                              {"name": "grpc", "protocol": "TCP", "port": ep["grpcPort"],
                               "targetPort": ep["grpcPort"]}]}}
    if p.get("annotations"):
        svc["metadata"]["annotations"] = {k: str(v) for k, v in p["annotations"].items()}
    _set_label(dep, LABEL_SELDON_APP_SVC, sname, selector=True)
    ports = con.setdefault("ports", [])
    names = {pt.get("name") for pt in ports}
    if "http" not in names:
        ports.append({"name": "http", "containerPort": ep["httpPort"], "protocol": "TCP"})
    if "grpc" not in names:
        ports.append({"name": "grpc", "containerPort": ep["grpcPort"], "protocol": "TCP"})
    if "metrics" not in names:
        ports.append({"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"})
    grpc = (sdep.get("spec") or {}).get("transport") == "grpc" or ep.get("type") == "GRPC"
    probe_port = ep["grpcPort"] if grpc else ep["httpPort"]
    con.setdefault("livenessProbe", {"tcpSocket": {"port": probe_port}, "initialDelaySeconds": 60,
                                     "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3,
                                     "timeoutSeconds": 1})
    con.setdefault("readinessProbe", {"tcpSocket": {"port": probe_port}, "initialDelaySeconds": 20,
                                      "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3,
                                      "timeoutSeconds": 1})
    con.setdefault("lifecycle", {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}})
    env = con.setdefault("env", [])
    have = {e.get("name") for e in env}

    def add(k, v):
        if k not in have:
            env.append({"name": k, "value": str(v)})
            have.add(k)
    add("PREDICTIVE_UNIT_SERVICE_PORT", ep["grpcPort"] if grpc else ep["httpPort"])
    add("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", ep["httpPort"])
    add("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", ep["grpcPort"])
    if node.get("parameters"):
        add("PREDICTIVE_UNIT_PARAMETERS", json.dumps(node["parameters"], separators=(",", ":")))
    labels = json.dumps(p.get("labels") or {}, separators=(",", ":"), sort_keys=True)
    for k, v in (("PREDICTIVE_UNIT_ID", con["name"]), ("MLSERVER_MODEL_NAME", con["name"]),
                 ("PREDICTIVE_UNIT_IMAGE", con.get("image", "")), ("PREDICTOR_ID", p["name"]),
                 ("PREDICTOR_LABELS", labels), ("SELDON_DEPLOYMENT_ID", sdep["metadata"]["name"]),
                 ("SELDON_EXECUTOR_ENABLED", "true"), ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", metrics_port),
                 ("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/prometheus")):
        add(k, v)
    return svc


def _prepackaged(node: dict, con: dict, pod_spec: dict, cfg: OperatorConfig, proto: str) -> None:
    impl = node["implementation"]
    if not con.get("image"):
        con["image"] = cfg.server_image(impl, proto)
        for e in con.get("env") or []:
            if e.get("name") == "PREDICTIVE_UNIT_IMAGE":
                e["value"] = con["image"]
    env = con.setdefault("env", [])
    have = {e.get("name") for e in env}
    ep = node["endpoint"]
    if proto == "v2":
        extra = [("MLSERVER_HTTP_PORT", ep["httpPort"]), ("MLSERVER_GRPC_PORT", ep["grpcPort"]),
                 ("MLSERVER_MODEL_IMPLEMENTATION", MLSERVER_IMPLEMENTATIONS.get(impl, "")),
                 ("MLSERVER_MODEL_URI", MODEL_MOUNT), ("MLSERVER_MODEL_NAME", node["name"])]
    else:
        params = [q for q in node.get("parameters") or [] if q.get("name") != "model_uri"]
        params.append({"name": "model_uri", "type": "STRING", "value": MODEL_MOUNT})
        env[:] = [e for e in env if e.get("name") != "PREDICTIVE_UNIT_PARAMETERS"]
        have.discard("PREDICTIVE_UNIT_PARAMETERS")
        extra = [("PREDICTIVE_UNIT_PARAMETERS", json.dumps(params, separators=(",", ":")))]
    for k, v in extra:
        if k not in have:
            env.append({"name": k, "value": str(v)})
    if node.get("modelUri"):
        _model_initializer(con, pod_spec, cfg, uri=node["modelUri"],
                           secret=node.get("envSecretRefName") or cfg.default_env_secret,
                           image=node.get("storageInitializerImage") or cfg.initializer_image())


def _mount(con: dict, name: str, path: str, read_only: bool = True) -> None:
    mounts = con.setdefault("volumeMounts", [])
    if not any(m.get("name") == name for m in mounts):
        mounts.append({"name": name, "mountPath": path, "readOnly": read_only})


def _model_initializer(con: dict, pod_spec: dict, cfg: OperatorConfig, *, uri: str, secret: str, image: str) -> None:
    vol = (con["name"] + "-provision-location")[:63].rstrip("-")
    cname = (con["name"] + "-model-initializer")[:63].rstrip("-")
    inits = pod_spec.setdefault("initContainers", [])
    if any(c.get("name") == cname for c in inits):
        _mount(con, vol, MODEL_MOUNT)
        return
    volumes = pod_spec.setdefault("volumes", [])
    mounts = []
    src = uri
    if uri.startswith("pvc://"):
        parts = uri[len("pvc://"):].split("/")
        claim, path = parts[0], "/".join(parts[1:])
        if not any(v.get("name") == PVC_SOURCE_VOLUME for v in volumes):
            volumes.append({"name": PVC_SOURCE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": PVC_SOURCE_VOLUME, "mountPath": PVC_SOURCE_MOUNT, "readOnly": True})
        _mount(con, PVC_SOURCE_VOLUME, PVC_SOURCE_MOUNT)
        src = PVC_SOURCE_MOUNT + "/" + path
    volumes.append({"name": vol, "emptyDir": {}})
    mounts.append({"name": vol, "mountPath": MODEL_MOUNT, "readOnly": False})
    si = cfg.storage_initializer
    init = {"name": cname, "image": image, "imagePullPolicy": "IfNotPresent", "args": [src, MODEL_MOUNT],
            "volumeMounts": mounts, "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "resources": {"limits": {"cpu": str(si.get("cpuLimit") or "1"), "memory": str(si.get("memoryLimit")
                                                                                       or "1Gi")},
                          "requests": {"cpu": str(si.get("cpuRequest") or "100m"),
                                       "memory": str(si.get("memoryRequest") or "100Mi")}}}
    if secret:
        init["envFrom"] = [{"secretRef": {"name": secret}}]
    inits.append(init)
    _mount(con, vol, MODEL_MOUNT)


def _add_engine(sdep: dict, p: dict, dep: dict, cfg: OperatorConfig, *, proto: str, psvc: str) -> None:
    ns = sdep["metadata"]["namespace"]
    pred = json.dumps(p, separators=(",", ":"), sort_keys=True).encode()
    sdep_min = {"apiVersion": sdep.get("apiVersion"), "kind": "SeldonDeployment",
                "metadata": {"name": sdep["metadata"]["name"], "namespace": ns},
                "spec": {"name": (sdep.get("spec") or {}).get("name", ""), "protocol": proto}}
    engine = {
        "name": ENGINE_CONTAINER, "image": cfg.executor_image, "imagePullPolicy": "IfNotPresent",
        "args": ["--sdep", sdep["metadata"]["name"], "--namespace", ns, "--predictor", p["name"],
                 "--http_port", str(ENGINE_HTTP_PORT), "--grpc_port", str(ENGINE_GRPC_PORT),
                 "--transport", (sdep.get("spec") or {}).get("transport") or "rest",
                 "--protocol", proto, "--prometheus_path", "/prometheus", "--server_type", "rpc",
                 "--log_work_buffer_size", "10000", "--log_write_timeout_ms", "2000",
                 f"--full_health_checks={str(cfg.full_health_checks).lower()}"],
        "env": [{"name": "ENGINE_PREDICTOR", "value": base64.b64encode(pred).decode()},
                {"name": "ENGINE_SELDON_DEPLOYMENT",
                 "value": base64.b64encode(json.dumps(sdep_min, separators=(",", ":")).encode()).decode()},
                {"name": "REQUEST_LOGGER_DEFAULT_ENDPOINT", "value": cfg.request_logger}],
        "ports": [{"name": "http", "containerPort": ENGINE_HTTP_PORT, "protocol": "TCP"},
                  {"name": "grpc", "containerPort": ENGINE_GRPC_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": ENGINE_HTTP_PORT, "scheme": "HTTP"},
                           "initialDelaySeconds": 20, "periodSeconds": 5, "failureThreshold": 3,
                           "successThreshold": 1, "timeoutSeconds": 60},
        "livenessProbe": {"httpGet": {"path": "/live", "port": ENGINE_HTTP_PORT, "scheme": "HTTP"},
                          "initialDelaySeconds": 20, "periodSeconds": 5, "failureThreshold": 3,
                          "successThreshold": 1, "timeoutSeconds": 60},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "curl 127.0.0.1:"
                                                       f"{ENGINE_HTTP_PORT}/pause; /bin/sleep 10"]}}},
        "resources": copy.deepcopy(cfg.executor_resources),
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    if cfg.executor_user is not None:
        engine["securityContext"] = {"runAsUser": cfg.executor_user}
    dep["spec"]["template"]["spec"]["containers"].append(engine)
    _set_label(dep, LABEL_SELDON_APP, psvc, selector=True)
    _set_label(dep, LABEL_SVC_ORCH, "true")


def no_engine(p: dict) -> bool:
    """seldon.io/no-engine: "true" -- no executor; the predictor Service leads to the root container."""
    return str((p.get("annotations") or {}).get("seldon.io/no-engine", "")).lower() == "true"


def _predictor_service(sdep: dict, p: dict, psvc: str, cfg: OperatorConfig, preds: list[dict], *,
                       ports: tuple[int, int]) -> dict:
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": psvc, "labels": {LABEL_SELDON_APP: psvc, LABEL_SELDON_ID: sdep["metadata"]["name"],
                                                 LABEL_MANAGED_BY: LABEL_VALUE_SELDON}, "annotations": {}},
           "spec": {"type": "ClusterIP", "sessionAffinity": "None", "selector": {LABEL_SELDON_APP: psvc},
                    "ports": [{"name": "http", "protocol": "TCP", "port": ports[0], "targetPort": ports[0]},
                              {"name": "grpc", "protocol": "TCP", "port": ports[1], "targetPort": ports[1]}]}}
    if cfg.ambassador:
        svc["metadata"]["annotations"][AMBASSADOR_ANNOTATION] = ambassador_config(sdep, p, psvc, cfg, preds,
                                                                                  ports=ports)
    ann = (sdep.get("spec") or {}).get("annotations") or {}
    if str(ann.get("seldon.io/headless-svc", "false")) != "false":
        svc["spec"]["clusterIP"] = "None"
    svc["metadata"]["annotations"].update({k: str(v) for k, v in (p.get("annotations") or {}).items()})
    if not svc["metadata"]["annotations"]:
        del svc["metadata"]["annotations"]
    return svc


def ambassador_config(sdep: dict, p: dict, psvc: str, cfg: OperatorConfig, preds: list[dict], *,
                      ports: tuple[int, int] = (ENGINE_HTTP_PORT, ENGINE_GRPC_PORT)) -> str:
    """getAmbassadorConfigs: REST + gRPC Mappings (namespaced prefix), weight for all but the first predictor,
    shadow for shadow predictors; seldon.io/ambassador-config replaces it all."""
    ann = {**((sdep.get("spec") or {}).get("annotations") or {}), **(sdep["metadata"].get("annotations") or {})}
    if ann.get("seldon.io/ambassador-config"):
        return str(ann["seldon.io/ambassador-config"])
    ns = sdep["metadata"]["namespace"]
    name = sdep["metadata"]["name"]
    external = str(ann.get("seldon.io/ambassador-service-name") or name)
    weight = None if preds[0]["name"] == p["name"] else int(p.get("traffic") or 0)
    rest_timeout = _int(ann.get("seldon.io/rest-timeout"), 3000)
    grpc_timeout = _int(ann.get("seldon.io/grpc-timeout"), 3000)
    retries = _int(ann.get("seldon.io/ambassador-retries"), 0)
    custom_header = str(ann.get("seldon.io/ambassador-header") or "")
    instance = str(ann.get("seldon.io/ambassador-id") or "")

    def headers_of(text):
        parts = text.split(":")
        return {parts[i].strip(): parts[i + 1].strip() for i in range(0, len(parts) - 1, 2)}

    def rest(namespaced):
        c = {"apiVersion": "ambassador/v1", "kind": "Mapping",
             "name": f"seldon_{name}_{p['name']}_rest_mapping", "prefix": f"/seldon/{external}/", "rewrite": "/",
             "service": f"{psvc}.{ns}:{ports[0]}", "timeout_ms": rest_timeout}
        if namespaced:
            c["name"] = f"seldon_{ns}_{name}_{p['name']}_rest_mapping"
            c["prefix"] = f"/seldon/{ns}/{external}/"
        return c

    def grpc(namespaced):
        c = {"apiVersion": "ambassador/v1", "kind": "Mapping", "name": f"seldon_{name}_{p['name']}_grpc_mapping",
             "grpc": True, "prefix": "^/(seldon.protos.*|tensorflow.serving.*|inference.GRPCInferenceService)/.*",
             "prefix_regex": True, "rewrite": "", "headers": {"seldon": external},
             "service": f"{psvc}.{ns}:{ports[1]}", "timeout_ms": grpc_timeout}
        if namespaced:
            c["headers"]["namespace"] = ns
            c["name"] = f"seldon_{ns}_{name}_{p['name']}_grpc_mapping"
        return c

    docs = []
    for c in (rest(True), grpc(True)) + ((rest(False), grpc(False)) if cfg.ambassador_single_namespace else ()):
        if custom_header:
            c.setdefault("headers", {}).update(headers_of(custom_header))
        if c["timeout_ms"] > 300000:
            c["idle_timeout_ms"] = c["timeout_ms"]
        if weight:
            c["weight"] = weight
        if p.get("shadow"):
            c["shadow"] = True
        if retries:
            c["retry_policy"] = {"retry_on": "gateway-error", "num_retries": retries}
        if instance:
            c["ambassador_id"] = instance
        docs.append(c)
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)
