# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests: loading (dicts, lists, YAML strings and files), validation, discovery of their API resources
and the order to apply and delete them in."""

from __future__ import annotations

import copy
import os

from ansible_collections.mlops.k8s.plugins.module_utils import names, safe_yaml
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref
from ansible_collections.mlops.k8s.plugins.module_utils.text import one_line, short_repr

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by K8sAnsibleModule
    HAS_YAML = False

MANIFEST_EXTENSIONS = (".yml", ".yaml", ".json")


class Manifest:
    """One object to apply, with where it came from (for error messages) and its discovered API resource."""

    def __init__(self, obj, origin):
        self.obj = obj
        self.origin = origin
        self.resource = None
        self.pending_crd = None  # the CRD in this batch that defines the kind (not yet served)

    @property
    def kind(self):
        return self.obj.get("kind")

    @property
    def api_version(self):
        return self.obj.get("apiVersion")

    @property
    def meta(self):
        return self.obj.setdefault("metadata", {})

    @property
    def name(self):
        return self.meta.get("name")

    @property
    def namespace(self):
        return self.meta.get("namespace")

    @property
    def namespaced(self):
        if self.resource is not None:
            return bool(self.resource.namespaced)
        if self.pending_crd is not None:
            return (self.pending_crd.get("spec") or {}).get("scope", "Namespaced") == "Namespaced"
        return None

    def ref(self):
        return ref(self.kind, self.namespace, self.name or self.meta.get("generateName"))

    def __repr__(self):
        return "<Manifest %s from %s>" % (self.ref(), self.origin)


# -- loading ------------------------------------------------------------------------------------------------
def parse_yaml(text, origin):
    """All documents of a YAML (or JSON) string, without empty documents."""
    if not HAS_YAML:
        raise K8sError("PyYAML is required to read YAML manifests")
    try:
        docs = safe_yaml.load_all(text)
    except safe_yaml.YAMLLimitError as exc:
        raise K8sError("%s: YAML refused: %s" % (origin, exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise K8sError("%s: invalid YAML%s: %s" % (origin, where, one_line(problem))) from None
    return [d for d in docs if d is not None]


def _expand(value, origin, out, parsed=False):
    """Flatten dicts, lists, YAML strings and kind: List objects into Manifests.

    A string is parsed as YAML once: a string found in a parsed document (``hello``, ``- hello``) is an error, not
    YAML to parse again (which never ends).
    """
    if value is None:
        return
    if isinstance(value, (bytes, str)) and not parsed:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        docs = parse_yaml(text, origin)
        for i, doc in enumerate(docs):
            _expand(doc, "%s document %d" % (origin, i + 1) if len(docs) > 1 else origin, out, parsed=True)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _expand(item, "%s[%d]" % (origin, i), out, parsed)
    elif isinstance(value, dict):
        kind = value.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
            for i, item in enumerate(value["items"]):
                _expand(item, "%s items[%d]" % (origin, i), out, parsed)
        else:
            out.append(Manifest(copy.deepcopy(value), origin))
    else:
        raise K8sError("%s: expected a mapping (a Kubernetes object), got %s %s"
                       % (origin, type(value).__name__, short_repr(value)))


def manifest_files(src):
    """A file, or the *.yml/*.yaml/*.json files of a directory (not recursive), sorted by name."""
    src = os.path.expanduser(src)
    if os.path.isdir(src):
        files = sorted(
            os.path.join(src, f) for f in os.listdir(src)
            if f.lower().endswith(MANIFEST_EXTENSIONS) and os.path.isfile(os.path.join(src, f))
        )
        if not files:
            raise K8sError("src: directory %s has no *.yml, *.yaml or *.json file" % src)
        return files
    if os.path.isfile(src):
        return [src]
    raise K8sError("src: %s does not exist" % src)


def load_manifests(definition=None, src=None):
    """Manifests from ``definition`` (dict, list, YAML string with any number of documents) and/or ``src``."""
    out = []
    if isinstance(definition, (dict, list, tuple)) and safe_yaml.depth_over(definition, safe_yaml.MAX_DEPTH + 1):
        raise K8sError("definition: nested deeper than %d levels" % safe_yaml.MAX_DEPTH)
    if definition is not None:
        _expand(definition, "definition", out)
    if src:
        for path in manifest_files(src):
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise K8sError("src: cannot read %s: %s" % (path, one_line(exc))) from None
            _expand(text, path, out)
    return out


def validate_manifest(manifest):
    """Check the fields every object needs; raise K8sError naming the manifest's origin."""
    obj = manifest.obj
    problems = []
    for key in ("apiVersion", "kind"):
        if not obj.get(key):
            problems.append("%s is required" % key)
        elif not isinstance(obj[key], str):
            problems.append("%s must be a string" % key)
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        problems.append("metadata must be a mapping")
    else:
        if not meta.get("name") and not meta.get("generateName"):
            problems.append("metadata.name (or metadata.generateName) is required")
        for key in ("name", "generateName", "namespace"):
            if key in meta and meta[key] is not None and not isinstance(meta[key], str):
                problems.append("metadata.%s must be a string" % key)
        problems.extend(_metadata_name_problems(meta))
        for key in ("labels", "annotations"):
            if meta.get(key) is not None and not isinstance(meta[key], dict):
                problems.append("metadata.%s must be a mapping" % key)
    if problems:
        label = ref(obj.get("kind"), None, (meta or {}).get("name") if isinstance(meta, dict) else None)
        raise K8sError("%s (%s): %s" % (manifest.origin, label, "; ".join(problems)))
    return manifest


def _metadata_name_problems(meta):
    """metadata.name and metadata.namespace become URL path segments: refuse what would change the path."""
    problems = []
    checks = (("name", names.check_path_segment), ("namespace", names.check_label))
    for key, check in checks:
        if isinstance(meta.get(key), str) and meta[key]:
            try:
                check(meta[key], "metadata.%s" % key)
            except K8sError as err:
                problems.append(err.msg)
    return problems


# -- discovery, namespaces and order ------------------------------------------------------------------------
def crd_serves(crd, api_version, kind):
    spec = crd.get("spec") or {}
    group = spec.get("group")
    names = spec.get("names") or {}
    versions = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)]
    if spec.get("version"):
        versions.append(spec["version"])
    return names.get("kind") == kind and any("%s/%s" % (group, v) == api_version for v in versions)


def resolve(client, manifests, namespace=None, allow_pending=True, for_delete=False):
    """Attach the API resource of each manifest and default namespaces; fail before any write on unknown kinds.

    Kinds not served yet but defined by a CustomResourceDefinition of the same batch are marked pending
    (their scope is taken from the CRD) and resolved again when applied.
    """
    crds = [m.obj for m in manifests if m.kind == "CustomResourceDefinition"]
    for manifest in manifests:
        manifest.resource = client.find_resource(manifest.api_version, manifest.kind)
        if manifest.resource is None and for_delete:
            continue  # nothing of an unserved kind can exist: reported as absent
        if manifest.resource is None:
            pending = [c for c in crds if crd_serves(c, manifest.api_version, manifest.kind)]
            if not pending or not allow_pending:
                raise K8sError("%s: no kind %s in apiVersion %s on this cluster"
                               % (manifest.origin, manifest.kind, manifest.api_version), status=404)
            manifest.pending_crd = pending[0]
        default_namespace(manifest, namespace)
    return manifests


def default_namespace(manifest, namespace=None):
    """Namespaced kinds get ``namespace`` (then 'default') when they have none; cluster kinds lose theirs."""
    if manifest.namespaced:
        if not manifest.meta.get("namespace"):
            manifest.meta["namespace"] = namespace or "default"
    elif manifest.namespaced is False:
        manifest.meta.pop("namespace", None)


# Namespaced kinds that pods use or that constrain them (their service account, configuration, credentials,
# volumes, quotas and permissions): applied before the workloads, as Helm's install order does, so the first pod
# of a new Deployment does not fail on a ServiceAccount or ConfigMap sent at the same moment.
POD_PREREQUISITE_KINDS = frozenset({
    ("v1", "ServiceAccount"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "PersistentVolumeClaim"),
    ("v1", "ResourceQuota"), ("v1", "LimitRange"), ("v1", "Service"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
})


def apply_rank(manifest):
    """0 namespaces, 1 CRDs, 2 other cluster-scoped objects, 3 what pods need (POD_PREREQUISITE_KINDS), 4 the
    rest."""
    if manifest.kind == "Namespace" and manifest.api_version == "v1":
        return 0
    if manifest.kind == "CustomResourceDefinition":
        return 1
    if manifest.namespaced is False:
        return 2
    if (manifest.api_version, manifest.kind) in POD_PREREQUISITE_KINDS:
        return 3
    return 4


def order_for_apply(manifests):
    """Namespaces, CRDs, other cluster-scoped objects, what pods need, then the rest; stable within each group."""
    return sorted(manifests, key=apply_rank)


def order_for_delete(manifests):
    """The reverse of the apply order."""
    return list(reversed(order_for_apply(manifests)))
