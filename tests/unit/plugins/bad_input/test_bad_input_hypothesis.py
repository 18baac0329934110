"""Bad input, generated: every module of the collection, run in-process as Ansible runs it, given arguments that
are each wrong in one way, drawn by hypothesis from the module's own argument spec.

For every module there is a *valid* base task (checked first: it succeeds against the same backend), and each
case changes exactly one thing of it into something invalid:

- wrong types for every int / bool / list / dict / bytes option of the spec (the connection options included),
  unknown options, values outside ``choices``, a required option left out;
- object names and namespaces that break DNS-1123 (upper case, ``_``, ``/``, leading ``-``, too long, empty);
- negative numbers for counts and timeouts, numbers above what the API stores (int32) for replicas & co;
- bad URIs and schemes (``ftp://``, ``file://``, ``bogus``, no host, a broken IPv6 literal) for model URIs,
  prediction URLs and S3 endpoints;
- huge strings, YAML bombs (billion laughs), deeply nested YAML and objects, plain strings and lists of strings
  where a Kubernetes object is expected.

Each case must end in a ``failed`` result with a message, without a Python traceback (no uncaught exception, no
``exception`` key, no "Traceback" in the message), within a few seconds, and without a single write reaching the
server: the Kubernetes modules run against the recording fake API of tests/unit/k8s_fake.py (every request
recorded; POST/PUT/PATCH/DELETE that are not dry runs count), s3_artifact against moto with every botocore call
recorded (PutObject, CreateBucket, DeleteObject(s), ... count), model_predict with a recording opener (any request
counts: a prediction is a POST).

All cases of a module are run (problems are collected, not raised at the first one), then the test fails listing
each problem once with an example (there is no list of tolerated findings: only the cases of ACCEPTED_BY_DESIGN,
each with its reason, may succeed); the counts go to the session summary (conftest.py) and to the test's user
properties. Generation is derandomized (the same cases every run, so `make test` is stable);
BAD_INPUT_RANDOM=1 draws new ones, BAD_INPUT_EXAMPLES=n changes the number per module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import string
import time
from dataclasses import dataclass, field

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mlops.k8s.plugins.module_utils import argo_status, seldon
from ansible_collections.mlops.k8s.plugins.module_utils import args as args_mod
from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod
from ansible_collections.mlops.k8s.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.k8s.plugins.modules import (
    apply,
    argo_workflow,
    cron_workflow,
    info,
    model_predict,
    namespace,
    pvc,
    s3_artifact,
    seldon_deployment,
    service_account,
    storage_secret,
    wait,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "250"))
RANDOM = os.environ.get("BAD_INPUT_RANDOM") == "1"
CASE_SECONDS = 8.0  # a case that takes longer is a hang: bad input must fail fast (a refusal takes milliseconds)
GV_ARGO = "argoproj.io/v1alpha1"
WRITE_OPS_S3 = {"PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload", "CopyObject",
                "CreateBucket", "DeleteObject", "DeleteObjects", "PutObjectTagging", "DeleteBucket",
                "AbortMultipartUpload"}
WF_SPEC = {"entrypoint": "main", "templates": [
    {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c", "echo hi"]}}]}
PREDICTOR = {"name": "default", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/v1",
             "env_secret_ref_name": "s3-model-secret"}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "models"},
             "data": {"threshold": "0.5"}}


# Cases that succeed by design, each with why that is right: (module, case label) -> (reason, the success message
# the module must give). Only a success with exactly that message, and without a write, counts as by design.
ACCEPTED_BY_DESIGN = {
    ("apply", "definition: YAML nested at random depth"): (
        "a shallow '[[...]]' (depth up to the loader's limit of 100) is a valid YAML list holding no object: "
        "apply has nothing to do and says so, like an empty manifest file (a deeper one is refused)",
        "no object in definition/src"),
}


def by_design(module, label, outcome, writes):
    """The reason a case that was not refused is right (None when it is a problem)."""
    reason, message = ACCEPTED_BY_DESIGN.get((module, label), (None, None))
    if reason and not outcome.failed and not outcome.traceback and not writes and outcome.result.get("msg") == message:
        return reason
    return None


# ----------------------------------------------------------------------------------------------- the backends
class Hung(BaseException):  # noqa: N818 - BaseException: no `except Exception` in the module may swallow it
    """A case ran longer than CASE_SECONDS."""


@contextlib.contextmanager
def wall_limit(seconds):
    """SIGALRM after `seconds`, then pytest-timeout's own alarm (if any) restored with the time it had left."""
    previous = signal.getsignal(signal.SIGALRM)
    remaining, _interval = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()

    def on_alarm(_signum, _frame):
        raise Hung("no result after %.0f s" % seconds)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, max(0.05, remaining - (time.monotonic() - started)))


def new_cluster():
    from k8s_fake import FakeCluster

    cluster = FakeCluster()
    for kind, plural, namespaced in (("Workflow", "workflows", True), ("WorkflowTemplate", "workflowtemplates", True),
                                     ("CronWorkflow", "cronworkflows", True),
                                     ("ClusterWorkflowTemplate", "clusterworkflowtemplates", False)):
        cluster.add_kind(GV_ARGO, kind, plural, namespaced)
    cluster.add_kind(seldon.API_VERSION, seldon.KIND, "seldondeployments")
    for kind, plural in (("Event", "events"), ("PersistentVolumeClaim", "persistentvolumeclaims"),
                         ("ResourceQuota", "resourcequotas"), ("LimitRange", "limitranges")):
        cluster.add_kind("v1", kind, plural)
    cluster.add_kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
    cluster.add_kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False)
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    cluster.put(CONFIGMAP)
    return cluster


class Backend:
    """Where a module's requests go; `reset()` before each case, `writes()` after it."""

    def reset(self):
        raise NotImplementedError

    def writes(self):
        raise NotImplementedError


class K8sBackend(Backend):
    def __init__(self, monkeypatch, tmp_path):
        from k8s_fake import make_client

        self.cluster = new_cluster()
        cache = str(tmp_path / "discovery.json")
        monkeypatch.setattr(client_mod, "build_client", lambda params=None, **_kwargs: make_client(self.cluster, cache))
        monkeypatch.setattr(argo_status, "read_pod_log", lambda *a, **k: "")

    def reset(self):
        self.cluster = new_cluster()

    def writes(self):
        return [repr(r) for r in self.cluster.writes()]


class PredictBackend(Backend):
    """model_predict's HTTP: a recording opener that answers like a Seldon model server."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = model_predict.run

        def opener(url, **kwargs):
            self.calls.append("%s %s" % (kwargs.get("method", "POST"), url))

            class Response:
                status = 200

                @staticmethod
                def read():
                    return json.dumps({"data": {"names": ["a", "b"], "ndarray": [[0.1, 0.9]]}}).encode()

                @staticmethod
                def geturl():
                    return url

            return Response()

        monkeypatch.setattr(model_predict, "run", lambda params, opener_=None: original(params, opener=opener))

    def reset(self):
        self.calls = []

    def writes(self):
        return list(self.calls)


class S3Backend(Backend):
    """moto's S3 with every botocore call recorded (the calls that write count)."""

    def __init__(self, monkeypatch):
        import boto3
        from botocore.client import BaseClient

        self.calls = []
        self.boto3 = boto3
        original = BaseClient._make_api_call

        def record(client, operation, params):
            self.calls.append("%s %s" % (operation, params.get("Bucket", "")))
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", record)

    def reset(self):
        self.calls = []

    def writes(self):
        return [c for c in self.calls if c.split()[0] in WRITE_OPS_S3]


# ----------------------------------------------------------------------------------------------- the modules
@dataclass
class Target:
    module: object
    base: dict  # a valid task: succeeds against the backend
    spec: dict  # the full argument spec (connection options included)
    names: tuple = ()  # options that name Kubernetes objects (DNS-1123)
    subdomains: tuple = ()  # those of `names` whose rule is a DNS-1123 subdomain: '.' is valid in them
    non_negative: tuple = ()  # int options that must be >= 0
    int32: tuple = ()  # int options the API stores as int32
    uris: tuple = ()  # (option path, kind of URI)
    definitions: tuple = ()  # options that take manifests
    extra: list = field(default_factory=list)  # module-specific bad cases: (label, overrides)


def k8s_spec(module, **flags):
    spec = args_mod.auth_spec()
    if flags.get("wait"):
        spec.update(args_mod.wait_spec())
    spec.update(module.argument_spec())
    return spec


def s3_artifact_spec():
    """The spec s3_artifact.main() passes to S3AnsibleModule (it is built inline there)."""
    seen = {}

    class Capture(Exception):
        pass

    class Probe:
        def __init__(self, argument_spec, **_kwargs):
            seen.update(s3_utils.s3_auth_argument_spec())
            seen.update(argument_spec)
            raise Capture

    original = s3_artifact.S3AnsibleModule
    s3_artifact.S3AnsibleModule = Probe
    try:
        s3_artifact.main()
    except Capture:
        pass
    finally:
        s3_artifact.S3AnsibleModule = original
    return seen


def targets(model_dir):
    return {
        "apply": Target(apply, {"definition": [dict(CONFIGMAP, metadata={"name": "fresh"})], "namespace": "models"},
                        k8s_spec(apply),
                        names=("namespace",), definitions=("definition",),
                        extra=[("prune without selector", {"prune": True}),
                               ("prune selector only negative", {"prune": True, "prune_selector": "!app"}),
                               ("prune selector garbage", {"prune": True, "prune_selector": "a b c = = ("}),
                               ("prune kind garbage", {"prune": True, "prune_selector": "app=x",
                                                       "prune_kinds": ["///"]}),
                               ("src missing", {"definition": None, "src": "/nonexistent/manifests"})]),
        "argo_workflow": Target(argo_workflow, {"name": "hello", "namespace": "models", "spec": WF_SPEC,
                                                "wait": False}, k8s_spec(argo_workflow),
                                names=("name", "namespace", "generate_name"),
                                non_negative=("wait_timeout", "log_lines"), definitions=("definition",),
                                extra=[("spec without templates", {"spec": {"entrypoint": "main"}}),
                                       ("entrypoint unknown", {"spec": dict(WF_SPEC, entrypoint="nope")}),
                                       ("name and generate_name", {"generate_name": "hello-"})]),
        "cron_workflow": Target(cron_workflow, {"name": "nightly", "namespace": "models", "schedule": "0 3 * * *",
                                                "workflow_spec": WF_SPEC, "wait": False}, k8s_spec(cron_workflow),
                                names=("name", "namespace"),
                                non_negative=("wait_timeout", "starting_deadline_seconds",
                                              "successful_jobs_history_limit", "failed_jobs_history_limit"),
                                int32=("successful_jobs_history_limit", "failed_jobs_history_limit"),
                                definitions=("definition",),
                                extra=[("schedule garbage", {"schedule": "every day at noon"}),
                                       ("schedule 6 fields", {"schedule": "0 0 3 * * * *"}),
                                       ("schedule minute 61", {"schedule": "61 3 * * *"}),
                                       ("timezone unknown", {"timezone": "Mars/Olympus_Mons"})]),
        "info": Target(info, {"kind": "ConfigMap", "namespace": "models"}, k8s_spec(info),
                       extra=[("name of a namespaced kind without namespace", {"namespace": None, "name": "x"}),
                              ("wait negative", {"wait": True, "name": "x", "wait_timeout": -5})]),
        "wait": Target(wait, {"kind": "ConfigMap", "name": "settings", "namespace": "models", "for": "exists",
                              "timeout": 2}, k8s_spec(wait), non_negative=("timeout",),
                       extra=[("jsonpath garbage", {"for": "jsonpath", "jsonpath": "{.status[[", "value": "x"}),
                              ("condition without condition", {"for": "condition"}),
                              ("rollout of a ConfigMap", {"for": "rollout"}),
                              ("namespaced kind without namespace", {"namespace": None})]),
        "model_predict": Target(model_predict, {"url": "http://gw.local", "name": "iris", "namespace": "models",
                                                "data": [[1.0, 2.0]], "timeout": 0}, model_predict.argument_spec(),
                                names=("name", "namespace"), non_negative=("timeout", "request_timeout"),
                                uris=(("url", "http"),),
                                extra=[("v2 without model_name", {"protocol": "v2"}),
                                       ("payload and data", {"payload": {"data": {}}}),
                                       ("no url", {"url": None}),
                                       ("url with credentials in userinfo to another host",
                                        {"url": "http://user:pass@/x"})]),
        "namespace": Target(namespace, {"name": "team-a", "wait": False}, k8s_spec(namespace),
                            names=("name", "quota_name", "limit_range_name"), non_negative=("wait_timeout",),
                            subdomains=("quota_name", "limit_range_name"),
                            extra=[("quota not a quantity", {"quota": {"requests.cpu": "lots"}}),
                                   ("limit not a quantity", {"limit_range": {"max": {"memory": "1 giga"}}}),
                                   ("label key invalid", {"labels": {"bad key!": "v"}}),
                                   ("label value too long", {"labels": {"k": "v" * 64}})]),
        "pvc": Target(pvc, {"name": "data", "namespace": "models", "size": "1Gi"}, k8s_spec(pvc),
                      names=("name", "namespace"), non_negative=("wait_timeout",), subdomains=("name",),
                      extra=[("size not a quantity", {"size": "big"}), ("size negative", {"size": "-1Gi"}),
                             ("size zero", {"size": "0"}), ("access mode unknown", {"access_modes": ["ReadSometimes"]}),
                             ("size missing", {"size": None})]),
        "s3_artifact": Target(s3_artifact, {"bucket": "models", "prefix": "iris/v1", "src": str(model_dir),
                                            "create_bucket": True},
                              s3_artifact_spec(), non_negative=("concurrency",), uris=(("endpoint_url", "s3"),),
                              extra=[("src missing", {"src": "/nonexistent/model"}),
                                     ("bucket upper case", {"bucket": "Models"}),
                                     ("bucket too short", {"bucket": "ab"}),
                                     ("bucket with underscore", {"bucket": "my_models"}),
                                     ("bucket too long", {"bucket": "b" * 64}),
                                     ("purge without prefix", {"purge": True, "prefix": ""}),
                                     ("absent without prefix", {"state": "absent", "prefix": ""}),
                                     ("concurrency zero", {"concurrency": 0}),
                                     ("multipart chunk below 5MB", {"multipart_chunksize": "1KB"})]),
        "seldon_deployment": Target(seldon_deployment, {"name": "iris", "namespace": "models",
                                                        "predictors": [PREDICTOR], "wait": False},
                                    k8s_spec(seldon_deployment), names=("name", "namespace"),
                                    non_negative=("replicas", "wait_timeout", "crashloop_restarts"),
                                    int32=("replicas",), uris=(("predictors.0.model_uri", "model"),),
                                    definitions=("definition",),
                                    extra=[("predictor replicas negative", {"predictors": [dict(PREDICTOR,
                                                                                                replicas=-1)]}),
                                           ("traffic above 100", {"predictors": [dict(PREDICTOR, traffic=150)]}),
                                           ("traffic negative", {"predictors": [dict(PREDICTOR, traffic=-5)]}),
                                           ("two predictors with one name", {"predictors": [PREDICTOR, PREDICTOR]}),
                                           ("predictor name upper case", {"predictors": [dict(PREDICTOR,
                                                                                              name="Default")]}),
                                           ("no predictors", {"predictors": []}),
                                           ("env with a secret value in a bad shape",
                                            {"predictors": [dict(PREDICTOR, env="API_KEY=hunter2")]})]),
        "service_account": Target(service_account, {"name": "deployer", "namespace": "models",
                                                    "preset": "seldon-deployer"}, k8s_spec(service_account),
                                  names=("name", "namespace", "role_name"), subdomains=("name", "role_name"),
                                  extra=[("rule with wildcard verbs", {"preset": None, "rules": [
                                          {"resources": ["pods"], "verbs": ["*"]}]}),
                                         ("rule escalate", {"preset": None, "rules": [
                                             {"api_groups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                              "verbs": ["escalate"]}]}),
                                         ("rule without verbs", {"preset": None, "rules": [
                                             {"resources": ["pods"], "verbs": []}]}),
                                         ("image pull secret name invalid", {"image_pull_secrets": ["Bad Name"]})]),
        "storage_secret": Target(storage_secret, {"name": "s3-model-secret", "namespace": "models",
                                                  "access_key": "AKIABADINPUT", "secret_key": "bad-input-secret",
                                                  "endpoint_url": "http://minio:9000"}, k8s_spec(storage_secret),
                                 names=("name", "namespace"), subdomains=("name",), uris=(("endpoint_url", "s3"),),
                                 extra=[("remote with a dash", {"remote": "my-remote"}),
                                        ("access key without secret", {"secret_key": None}),
                                        ("profile and keys", {"profile": "dev"})]),
    }


# ----------------------------------------------------------------------------------------------- the strategies
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
LETTERS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
INT_BAD = st.one_of(st.from_regex(r"[a-zA-Z][a-zA-Z0-9 .,-]{0,15}", fullmatch=True),
                    st.sampled_from([1.5, -0.25, [1], {"n": 1}, "1.5", "0x1f", "", "ten"]))
BOOL_WORDS = {"y", "yes", "on", "1", "true", "t", "n", "no", "off", "0", "false", "f"}
BOOL_BAD = st.one_of(st.from_regex(r"[a-z]{6,12}", fullmatch=True).filter(lambda s: s not in BOOL_WORDS),
                     st.sampled_from([2, -1, 0.5, [True], {"on": True}, "maybe", "yess", "2"]))
LIST_BAD = st.sampled_from([{"k": "v"}, {"a": [1]}])
DICT_BAD = st.one_of(st.sampled_from([[1, 2], ["a=b"], 7, 1.5, True, "nodict", "[1, 2]"]),
                     st.from_regex(r"[a-z]{3,10}", fullmatch=True))
BYTES_BAD = st.sampled_from(["lots", "8XB", "-1MB", [8], {"n": 8}, "1.5.5MB"])
UNKNOWN_KEY = st.from_regex(r"[a-z][a-z0-9_]{2,20}", fullmatch=True)
DNS_BAD = st.one_of(
    st.from_regex(r"[a-z0-9]{0,8}[A-Z_/@:.!~ ][a-zA-Z0-9_]{0,8}", fullmatch=True),
    st.from_regex(r"-[a-z0-9]{1,10}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}-", fullmatch=True),
    st.integers(min_value=254, max_value=20000).map(lambda n: "a" * n),
    st.sampled_from(["", "..", "../../etc", "a/b", "models\n", "UPPER", "ns%2Fx", "x?watch=1"]),
)
NEGATIVE = st.one_of(st.integers(max_value=-1, min_value=-(2**31)), st.sampled_from([-1, -(2**63), -(10**30)]))
ABOVE_INT32 = st.one_of(st.integers(min_value=2**31, max_value=2**64), st.just(10**30))
BAD_URI_FIXED = {
    # a prediction URL: only http(s) with a host
    "http": ["notaurl", "file:///etc/passwd", "ftp://gw.local/x", "gopher://gw.local", "http://", "http://[::1",
             "javascript:alert(1)", "//gw.local", "http:gw", "data:text/plain,hello", "", " "],
    # an S3 endpoint: http(s) with a host (loopback hosts only: a case that is not refused must not send a packet
    # outside 127.0.0.0/8)
    "s3": ["notaurl", "ftp://127.0.0.1:9", "file:///tmp/s3", "http://", "http://[::1", "127.0.0.1:9:x",
           "s3://127.0.0.1", "gopher://127.0.0.1:9"],
    # a Seldon model URI: the schemes Seldon's storage initializer downloads from
    "model": ["ftp://models/iris", "bogus", "file:///etc/passwd", "http://", "s3://", "s3:///iris",
              "javascript:alert(1)", "", "..", "C:\\models"],
}
BAD_URI = {
    "http": st.one_of(st.sampled_from(BAD_URI_FIXED["http"]),
                      st.from_regex(r"[a-z]{2,8}://[a-z]{1,8}\.local", fullmatch=True).filter(
                          lambda u: not u.startswith(("http://", "https://")))),
    "s3": st.sampled_from(BAD_URI_FIXED["s3"]),
    "model": st.one_of(st.sampled_from(BAD_URI_FIXED["model"]),
                       st.from_regex(r"(ftp|smb|ssh|bogus|nfs)://[a-z]{1,8}/[a-z]{1,8}", fullmatch=True)),
}
BILLION_LAUGHS = "\n".join(
    ["a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
    + ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10)]
    + ["kind: ConfigMap", "apiVersion: v1", "metadata: {name: bomb}", "data: {x: *a9}"])


def nested_list(depth):
    out = "leaf"
    for _level in range(depth):
        out = [out]
    return out


def nested_map(depth):
    out = {"leaf": 1}
    for _level in range(depth):
        out = {"nested": out}
    return out


DEFINITION_FIXED = [
    ("plain string", "hello"), ("list of strings", ["a", "b"]), ("a number", 42), ("true", True),
    ("string list in YAML", "- a\n- b\n"), ("YAML bomb", BILLION_LAUGHS),
    ("YAML nested 5000 deep", "[" * 5000 + "]" * 5000),
    ("YAML map nested 1500 deep", "".join("%sa:\n" % ("  " * i) for i in range(1500))),
    ("invalid YAML", "kind: [\n"), ("YAML tag", "!!python/object:os.system {}"),
    ("list nested 300 deep", nested_list(300)), ("map nested 300 deep", nested_map(300)),
    ("huge string", "x" * 500_000), ("no kind", {"apiVersion": "v1", "metadata": {"name": "a"}}),
    ("metadata a string", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": "a"}),
    ("name a list", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ["a"]}}),
]
# hypothesis draws new ones (the fixed list above is tried once per module by fixed_cases)
DEFINITION_BAD = st.one_of(
    st.integers(min_value=1, max_value=400).map(lambda n: ("list nested %d deep" % n, nested_list(n))),
    st.integers(min_value=1, max_value=400).map(lambda n: ("map nested %d deep" % n, nested_map(n))),
    st.integers(min_value=1, max_value=3000).map(lambda n: ("YAML nested at random depth", "[" * n + "]" * n)),
    st.text(min_size=1, max_size=40).filter(lambda s: ":" not in s and s.strip() not in ("", "---", "...")
                                            and not s.strip().startswith(("#", "%", "-", "[", "{", "!", "&", "*",
                                                                          "|", ">", "'", '"', "?", "@", "`")))
    .map(lambda s: ("random scalar text", s)),
)


def spec_cases(spec, prefix=()):
    """(label, path, bad value strategy) for every typed option of `spec` (nested options one level down)."""
    out = []
    for name, opt in spec.items():
        kind = opt.get("type", "str")
        path = (*prefix, name)
        bad = {"int": INT_BAD, "bool": BOOL_BAD, "list": LIST_BAD, "dict": DICT_BAD, "bytes": BYTES_BAD}.get(kind)
        if bad is not None:
            out.append(("wrong type (%s)" % kind, path, bad))
        if kind == "list" and opt.get("elements") in ("int", "dict"):
            out.append(("wrong element type (%s)" % opt["elements"], path,
                        INT_BAD.filter(lambda v: not isinstance(v, list)).map(lambda v: [v])
                        if opt["elements"] == "int" else st.sampled_from([["text"], [7], [["x"]]])))
        if opt.get("choices"):
            choices = [str(c) for c in opt["choices"]]
            out.append(("not a choice", path, LETTERS.filter(lambda s, c=choices: s not in c)))
        if opt.get("options") and not prefix and kind in ("dict", "list"):
            out.extend(spec_cases(opt["options"], (name, "0") if kind == "list" else (name,)))
    return out


def set_path(args, path, value):
    """A copy of args with the option at `path` (a tuple; "0" indexes a list of suboptions) set to value."""
    args = json.loads(json.dumps(args))
    node = args
    for i, key in enumerate(path[:-1]):
        if key == "0":
            continue
        nxt = "0" if i + 1 < len(path) - 1 and path[i + 1] == "0" else None
        if nxt:
            node.setdefault(key, [{}])
            if not node[key]:
                node[key].append({})
            node = node[key][0]
        else:
            node = node.setdefault(key, {})
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return args


def dns_label(name, value):
    return ("trailing newline %s" if value.endswith("\n") else "not DNS-1123 %s") % name


def fixed_cases(target):
    """Cases every run tries whatever hypothesis draws: each definition, URI and name class of the lists above."""
    base = target.base
    out = []
    for name in target.definitions:
        trimmed = {k: v for k, v in base.items() if k not in ("spec", "predictors", "workflow_spec", "schedule")}
        out += [("definition: %s" % label, dict(trimmed, **{name: value}))
                for label, value in DEFINITION_FIXED]
    for path, kind in target.uris:
        out += [("bad URI %s" % path, set_path(base, tuple(path.split(".")), v)) for v in BAD_URI_FIXED[kind]]
    for name in target.names:
        out += [("not DNS-1123 %s" % name, dict(base, **{name: v}))
                for v in ("Upper", "under_score", "-lead", "trail-", "a/b", "..", "a" * 254)]
    out += [(label, {k: v for k, v in dict(base, **over).items() if v is not None}) for label, over in target.extra]
    return out


def case_strategy(target):
    """One bad case of `target`: (label, args)."""
    spec = target.spec
    base = target.base
    families = []
    for label, path, bad in spec_cases(spec):
        if len(path) > 1 and path[0] not in base:
            continue  # suboptions of an option the base task does not use
        families.append(bad.map(lambda v, label=label, path=path: ("%s %s" % (label, ".".join(path)),
                                                                   set_path(base, path, v))))
    known = set(spec) | {a for o in spec.values() for a in o.get("aliases", ())}
    families.append(UNKNOWN_KEY.filter(lambda k: k not in known).map(
        lambda k: ("unknown option", dict(base, **{k: "x"}))))
    required = [n for n, o in spec.items() if o.get("required")]
    if required:
        families.append(st.sampled_from(required).map(
            lambda n: ("required option missing %s" % n, {k: v for k, v in base.items() if k != n})))
    for name in target.names:
        # an empty optional name means "not set" (the default name), as usual in Ansible
        bad = DNS_BAD if spec[name].get("required") else DNS_BAD.filter(bool)
        if name in target.subdomains:  # "e.4" is a valid DNS-1123 subdomain (ResourceQuota, Secret, PVC names)
            bad = bad.filter(lambda v: not DNS_SUBDOMAIN.match(v))
        families.append(bad.map(lambda v, name=name: (dns_label(name, v), dict(base, **{name: v}))))
    for name in target.non_negative:
        families.append(NEGATIVE.map(lambda v, name=name: ("negative %s" % name, dict(base, **{name: v}))))
    for name in target.int32:
        families.append(ABOVE_INT32.map(lambda v, name=name: ("above int32 %s" % name, dict(base, **{name: v}))))
    for path, kind in target.uris:
        families.append(BAD_URI[kind].map(lambda v, path=path: ("bad URI %s" % path,
                                                                set_path(base, tuple(path.split(".")), v))))
    for name in target.definitions:
        families.append(DEFINITION_BAD.map(lambda lv, name=name: (
            "definition: %s" % lv[0], dict({k: v for k, v in base.items() if k not in ("spec", "predictors",
                                                                                       "workflow_spec", "schedule")},
                                           **{name: lv[1]}))))
    if target.extra:
        families.append(st.sampled_from(target.extra).map(
            lambda lv: (lv[0], {k: v for k, v in dict(base, **lv[1]).items() if v is not None})))
    return st.one_of(families)


# ----------------------------------------------------------------------------------------------- running a case
@dataclass
class Outcome:
    failed: bool = False
    result: dict = field(default_factory=dict)
    traceback: str = ""
    hung: bool = False
    seconds: float = 0.0


def run_case(module, args, capsys):
    """Run module.main() with args as Ansible does; the outcome as Ansible would see it."""
    capsys.readouterr()
    outcome = Outcome()
    started = time.monotonic()
    try:
        with wall_limit(CASE_SECONDS), patch_module_args(args):
            module.main()
    except SystemExit as done:
        out = capsys.readouterr().out
        try:
            outcome.result = json.loads(out[out.index("{"):])
        except ValueError:
            outcome.traceback = "no JSON result: %r" % out[:300]
        outcome.failed = done.code != 0 or bool(outcome.result.get("failed"))
    except Hung as err:
        outcome.hung = True
        outcome.traceback = str(err)
    except RecursionError as err:
        outcome.traceback = "RecursionError: %s" % str(err)[:200]
    except Exception as err:  # noqa: BLE001 - any exception out of main() is the traceback we look for
        outcome.traceback = "%s: %s" % (type(err).__name__, str(err)[:300])
    else:
        outcome.traceback = "main() returned without exit_json/fail_json"
    outcome.seconds = time.monotonic() - started
    if not outcome.traceback:
        if "exception" in outcome.result:
            outcome.traceback = "exception key: " + str(outcome.result["exception"]).strip().splitlines()[-1][:300]
        elif "Traceback (most recent call last)" in str(outcome.result.get("msg", "")):
            outcome.traceback = "traceback in msg"
    return outcome


def short(value, limit=160):
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


@pytest.fixture
def backends(monkeypatch, tmp_path, aws_env, moto_backend):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"\0" * 64)
    k8s = K8sBackend(monkeypatch, tmp_path)
    s3 = S3Backend(monkeypatch)
    predict = PredictBackend(monkeypatch)
    return {"k8s": k8s, "s3": s3, "predict": predict, "targets": targets(model_dir)}


def backend_for(name, backends):
    return backends["s3"] if name == "s3_artifact" else backends["predict"] if name == "model_predict" else \
        backends["k8s"]


MODULES = ["apply", "argo_workflow", "cron_workflow", "info", "wait", "model_predict", "namespace", "pvc",
           "s3_artifact", "seldon_deployment", "service_account", "storage_secret"]


@pytest.mark.parametrize("name", MODULES)
def test_bad_input_fails_cleanly_without_writes(name, backends, capsys, record_property, moto_backend):
    target = backends["targets"][name]
    backend = backend_for(name, backends)

    # the control: the valid base task succeeds (and writes) against this backend, so a failure below comes
    # from the one bad value of the case, and a write would have been seen
    moto_backend.reset()
    backend.reset()
    control = run_case(target.module, target.base, capsys)
    assert not control.failed and not control.traceback, (control.traceback, control.result)
    assert name in ("info", "wait") or backend.writes(), "the valid task of %s wrote nothing: no control" % name

    counts = dict.fromkeys(("cases", "clean", "tracebacks", "writes", "accepted", "hung", "unclear", "by_design"), 0)
    problems = {}  # (kind, label) -> example
    design_seen = set()

    def problem(kind, label, detail):
        counts[kind] += 1
        problems.setdefault((kind, label), (detail, 0))
        problems[(kind, label)] = (problems[(kind, label)][0], problems[(kind, label)][1] + 1)

    def check(case):
        label, args = case
        if name == "s3_artifact":
            moto_backend.reset()
        backend.reset()
        outcome = run_case(target.module, args, capsys)
        writes = backend.writes()
        counts["cases"] += 1
        detail = "args %s -> %s" % (short({k: v for k, v in args.items() if target.base.get(k) != v}),
                                    outcome.traceback or short(outcome.result.get("msg"), 300))
        if by_design(name, label, outcome, writes):
            counts["by_design"] += 1
            design_seen.add(label)
            return
        clean = True
        if outcome.hung:
            problem("hung", label, detail)
            clean = False
        elif outcome.traceback:
            problem("tracebacks", label, detail)
            clean = False
        elif not outcome.failed:
            problem("accepted", label, detail)
            clean = False
        elif not isinstance(outcome.result.get("msg"), str) or not outcome.result["msg"].strip():
            problem("unclear", label, detail)
            clean = False
        if writes:
            problem("writes", label, detail + " | writes: %s" % short(writes[:2], 200))
            clean = False
        if clean:
            counts["clean"] += 1

    for case in fixed_cases(target):
        check(case)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=case_strategy(target))
    def cases(case):
        check(case)

    cases()
    record_property("bad_input_module", name)
    for key, value in counts.items():
        record_property("bad_input_" + key, value)
    print("\n%s: %s" % (name, counts))  # noqa: T201 - the numbers, with -s
    record_property("bad_input_design_labels", sorted(design_seen))
    report = ["%s [%s] x%d: %s" % (kind, label, n, detail) for (kind, label), (detail, n) in sorted(problems.items())]
    if problems:
        not_clean = counts["cases"] - counts["clean"] - counts["by_design"]
        pytest.fail("%s: %s of %s bad inputs not refused cleanly:\n%s" % (
            name, not_clean, counts["cases"], "\n".join(report)), pytrace=False)
