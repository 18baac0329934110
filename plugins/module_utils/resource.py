# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests: loading, validation, ordering, server-side apply, delete and diff.

Idempotence without writes: for an existing object a server-side apply is first sent with ``dryRun=All``;
when its result equals the live object (ignoring resourceVersion, managedFields, generation and status)
nothing is written. A second run of the same manifests therefore sends only GETs and dry-run PATCHes.
"""

from __future__ import annotations

import copy
import json
import os
import re

from ansible_collections.mlops.k8s.plugins.module_utils import labels, names, safe_yaml, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by K8sAnsibleModule
    HAS_YAML = False

MANIFEST_EXTENSIONS = (".yml", ".yaml", ".json")
VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")
SECRET_MASK = "********"  # noqa: S105 - a mask, not a password
SECRET_MASK_CHANGED = "******** (changed)"  # noqa: S105
ACTIONS = ("created", "configured", "unchanged", "deleted", "absent")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_FIELD_TOKEN = re.compile(r"\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|([^.\[\]]+)")


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
def _one_line(text):
    return " ".join(str(text).split())


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
        raise K8sError("%s: invalid YAML%s: %s" % (origin, where, _one_line(problem))) from None
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
                       % (origin, type(value).__name__, _short_repr(value)))


def _short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
                raise K8sError("src: cannot read %s: %s" % (path, _one_line(exc))) from None
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
def _crd_serves(crd, api_version, kind):
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
            pending = [c for c in crds if _crd_serves(c, manifest.api_version, manifest.kind)]
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


def _rank(manifest):
    if manifest.kind == "Namespace" and manifest.api_version == "v1":
        return 0
    if manifest.kind == "CustomResourceDefinition":
        return 1
    if manifest.namespaced is False:
        return 2
    return 3


def order_for_apply(manifests):
    """Namespaces, then CRDs, then other cluster-scoped objects, then the rest; stable within each group."""
    return sorted(manifests, key=_rank)


def order_for_delete(manifests):
    """The reverse of the apply order."""
    return list(reversed(order_for_apply(manifests)))


# -- comparison, diff, masking ------------------------------------------------------------------------------
def strip_object(obj, drop_status=False):
    """A copy without managedFields (and the other volatile metadata when comparing)."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    meta.pop("managedFields", None)
    if drop_status:
        out.pop("status", None)
        for key in VOLATILE_METADATA:
            meta.pop(key, None)
    return out


def normalize(obj):
    """What decides "changed": the object without resourceVersion, managedFields, generation and status."""
    return strip_object(obj, drop_status=True)


def differs(live, proposed):
    return normalize(live) != normalize(proposed)


def is_secret(obj):
    return bool(obj) and obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) == "v1"


def mask_secret(obj, reference=None):
    """A copy of a Secret with data/stringData values replaced by a mask (other kinds are returned as is).

    With ``reference`` (the other side of a diff), values that differ are masked as changed. The values kept by
    ``kubectl apply`` in the last-applied-configuration annotation are masked too. (``managedFields`` name the
    keys only, never values; results drop them anyway.)
    """
    if not is_secret(obj):
        return obj
    out = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        values = out.get(field)
        if not isinstance(values, dict):
            continue
        other = (reference or {}).get(field) or {} if reference is not None else None
        for key in list(values):
            changed = other is not None and (not isinstance(other, dict) or other.get(key) != values[key])
            values[key] = SECRET_MASK_CHANGED if changed else SECRET_MASK
    mask_last_applied(out.get("metadata"))
    return out


def mask_last_applied(meta):
    """Mask the data/stringData values of a Secret kept in ``metadata.annotations`` by ``kubectl apply`` (in place).

    The annotation is the whole applied manifest as JSON; it keeps its key names, or is masked entirely when it is
    not JSON.
    """
    annotations = (meta or {}).get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return meta
    try:
        applied = json.loads(annotations[LAST_APPLIED])
    except (TypeError, ValueError):
        applied = None
    if not isinstance(applied, dict):
        annotations[LAST_APPLIED] = SECRET_MASK
        return meta
    for field in ("data", "stringData"):
        if isinstance(applied.get(field), dict):
            applied[field] = dict.fromkeys(applied[field], SECRET_MASK)
        elif field in applied:
            applied[field] = SECRET_MASK
    annotations[LAST_APPLIED] = json.dumps(applied, sort_keys=True, separators=(",", ":"))
    return meta


def make_diff(before, after):
    """{before, after} for Ansible's diff mode: managedFields/volatile metadata dropped, Secret values masked."""
    before_n = normalize(before) or {}
    after_n = normalize(after) or {}
    return {"before": mask_secret(before_n, after_n if before else None),
            "after": mask_secret(after_n, before_n if before else None)}


def public_object(obj):
    """What a module returns for an object: no managedFields, Secret values masked."""
    return mask_secret(strip_object(obj))


def present_object(obj, reveal_secrets=False, hide_fields=()):
    """What info and wait return: no managedFields, Secret values masked unless ``reveal_secrets``, and without
    the ``hide_fields`` (dotted paths with ``[n]`` indexes, as kubernetes.core's ``hide_fields``)."""
    if obj is None:
        return None
    out = strip_object(obj) if reveal_secrets else public_object(obj)
    for path in hide_fields or ():
        _remove_field(out, path)
    return out


def _field_path(path):
    """``spec.containers[0].env`` -> ``["spec", "containers", 0, "env"]``; ``labels['a.b/c']`` keeps its dots."""
    parts = []
    for index, quoted, dquoted, name in _FIELD_TOKEN.findall(str(path)):
        parts.append(int(index) if index else quoted or dquoted or name)
    return parts


def _remove_field(obj, path):
    parts = _field_path(path)
    if not parts:
        return
    parent = obj
    for part in parts[:-1]:
        found = (isinstance(parent, dict) and part in parent) or (
            isinstance(parent, list) and isinstance(part, int) and -len(parent) <= part < len(parent))
        if not found:
            return
        parent = parent[part]
    last = parts[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent):
        del parent[last]


# -- apply and delete ---------------------------------------------------------------------------------------
def _result(manifest, action, obj=None, diff=None, note=None):
    result = {
        "kind": manifest.kind,
        "api_version": manifest.api_version,
        "namespace": manifest.namespace if manifest.namespaced is not False else None,
        "name": manifest.name or (obj or {}).get("metadata", {}).get("name"),
        "action": action,
        "changed": action in ("created", "configured", "deleted"),
        "object": public_object(obj) if obj is not None else None,
    }
    if diff is not None:
        result["diff"] = diff
    if note:
        result["note"] = note
    return result


def _namespace_missing(err):
    text = str(err).lower()
    return err.status == 404 and "namespace" in text


def apply_manifest(client, manifest, *, check_mode=False, field_manager=None, force_conflicts=False,
                   want_diff=False, pending_namespaces=()):
    """Server-side apply one manifest; return its result dict (action created/configured/unchanged)."""
    if manifest.resource is None and manifest.pending_crd is not None:
        manifest.resource = client.find_resource(manifest.api_version, manifest.kind)
        if manifest.resource is None:
            if check_mode:
                return _result(manifest, "created", manifest.obj,
                               diff=make_diff(None, manifest.obj) if want_diff else None,
                               note="its CustomResourceDefinition is applied in this batch; "
                               "not validated in check mode")
            raise K8sError("%s: no kind %s in apiVersion %s on this cluster (its CustomResourceDefinition was "
                           "applied but is not served yet)" % (manifest.origin, manifest.kind, manifest.api_version))
    resource = manifest.resource
    body = manifest.obj

    if not manifest.name:  # generateName: only a create can name it
        created = client.create(resource, body, dry_run=check_mode)
        return _result(manifest, "created", created, diff=make_diff(None, created) if want_diff else None)

    live = client.get(resource, manifest.name, manifest.namespace)
    if live is None:
        if check_mode:
            if manifest.namespace in pending_namespaces:
                return _result(manifest, "created", body, diff=make_diff(None, body) if want_diff else None,
                               note="namespace %s is created in this batch; not validated in check mode"
                               % manifest.namespace)
            try:
                after = client.apply(resource, body, field_manager=field_manager,
                                     force_conflicts=force_conflicts, dry_run=True)
            except K8sError as err:
                if _namespace_missing(err):
                    raise K8sError("%s: namespace %s does not exist" % (manifest.ref(), manifest.namespace),
                                   status=404) from None
                raise
        else:
            after = client.apply(resource, body, field_manager=field_manager, force_conflicts=force_conflicts)
        return _result(manifest, "created", after, diff=make_diff(None, after) if want_diff else None)

    proposed = client.apply(resource, body, field_manager=field_manager, force_conflicts=force_conflicts,
                            dry_run=True)
    if not differs(live, proposed):
        return _result(manifest, "unchanged", live, diff=make_diff(live, live) if want_diff else None)
    after = proposed if check_mode else client.apply(
        resource, body, field_manager=field_manager, force_conflicts=force_conflicts)
    return _result(manifest, "configured", after, diff=make_diff(live, after) if want_diff else None)


def delete_manifest(client, manifest, *, check_mode=False, propagation_policy="Foreground", want_diff=False,
                    wait=False, wait_timeout=120):
    """Delete one object; absent objects (or kinds the cluster no longer serves) give action 'absent'."""
    if manifest.resource is None:
        return _result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None,
                       note="the cluster does not serve kind %s in apiVersion %s"
                       % (manifest.kind, manifest.api_version))
    resource = manifest.resource
    if not manifest.name:
        raise K8sError("%s: cannot delete an object without metadata.name" % manifest.origin)
    live = client.get(resource, manifest.name, manifest.namespace)
    if live is None:
        return _result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None)
    diff = make_diff(live, None) if want_diff else None
    if diff is not None:
        diff["after"] = {}
    response = client.delete(resource, manifest.name, manifest.namespace,
                             propagation_policy=propagation_policy, dry_run=check_mode)
    if response is None:  # removed between our GET and DELETE
        return _result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None)
    if wait and not check_mode:
        uid = (live.get("metadata") or {}).get("uid")
        waiter.wait_for(client, resource, manifest.name, manifest.namespace, check=waiter.deleted(uid),
                        timeout=wait_timeout, description="deletion")
    return _result(manifest, "deleted", live, diff=diff)


def wait_applied(client, manifest, result, *, timeout, condition=None, clock=None):
    """Wait for an applied object to be ready (condition given, or the kind's default check)."""
    if manifest.resource is None:
        return result
    if condition:
        check = waiter.condition(condition["type"], condition.get("status") or "True", condition.get("reason"))
        failure = None
        description = "condition %s=%s" % (condition["type"], condition.get("status") or "True")
    else:
        check, failure = waiter.default_check(manifest.kind)
        description = "rollout to complete" if manifest.kind in waiter.ROLLOUT_KINDS else "readiness"
    kwargs = {"clock": clock} if clock else {}
    name = manifest.name or (result.get("object") or {}).get("metadata", {}).get("name")
    outcome = waiter.wait_for(client, manifest.resource, name, manifest.namespace, check=check,
                              failure=failure, timeout=timeout, description=description, **kwargs)
    result["object"] = public_object(outcome.object)
    result["waited"] = round(outcome.elapsed, 3)
    return result


def summarize_results(results):
    summary = {"created": 0, "configured": 0, "unchanged": 0, "deleted": 0, "absent": 0}
    for result in results:
        summary[result["action"]] = summary.get(result["action"], 0) + 1
    return summary


def apply_all(client, manifests, *, check_mode=False, field_manager=None, force_conflicts=False, want_diff=False,
              wait=False, wait_timeout=120, wait_condition=None, clock=None, done=None):
    """Apply resolved manifests in order; wait (one overall deadline) for readiness when asked.

    ``done`` (a list), when given, receives each result as soon as it is known, so a caller can report what
    was already applied when a later object fails.
    """
    import time

    clock = clock or time.monotonic
    done = [] if done is None else done
    results = []
    pending_namespaces = set()
    for manifest in order_for_apply(manifests):
        result = apply_manifest(client, manifest, check_mode=check_mode, field_manager=field_manager,
                                force_conflicts=force_conflicts, want_diff=want_diff,
                                pending_namespaces=pending_namespaces)
        if manifest.kind == "Namespace" and result["action"] == "created" and check_mode:
            pending_namespaces.add(manifest.name)
        if manifest.kind == "CustomResourceDefinition" and result["changed"] and not check_mode:
            waiter.wait_for(client, manifest.resource, manifest.name, check=waiter.condition("Established"),
                            timeout=min(60, wait_timeout) if wait else 60,
                            description="the CustomResourceDefinition to be established")
        results.append((manifest, result))
        done.append(result)
    if wait and not check_mode:
        deadline = clock() + wait_timeout
        for manifest, result in results:
            wait_applied(client, manifest, result, timeout=max(0, deadline - clock()), condition=wait_condition,
                         clock=clock)
    return [r for _m, r in results]


def delete_all(client, manifests, *, check_mode=False, propagation_policy="Foreground", want_diff=False,
               wait=False, wait_timeout=120, done=None):
    """Delete resolved manifests in reverse apply order (``done`` as in apply_all)."""
    results = [] if done is None else done
    for manifest in order_for_delete(manifests):
        results.append(delete_manifest(client, manifest, check_mode=check_mode,
                                       propagation_policy=propagation_policy, want_diff=want_diff, wait=wait,
                                       wait_timeout=wait_timeout))
    return results


# -- prune --------------------------------------------------------------------------------------------------
def group_of(api_version):
    """The API group of an apiVersion (an empty string for the core group)."""
    return api_version.rpartition("/")[0] if "/" in (api_version or "") else ""


def identity(api_version, kind, namespace, name):
    """What makes two objects the same object, whatever version they are read in: group, kind, namespace, name."""
    return (group_of(api_version), kind, namespace or None, name)


def parse_kind(text):
    """``v1/ConfigMap``, ``apps/v1/Deployment`` or kubectl's ``core/v1/ConfigMap`` -> ``(apiVersion, kind)``."""
    api_version, _sep, kind = str(text or "").strip().rpartition("/")
    parts = api_version.split("/")
    if not api_version or not kind or len(parts) > 2 or not all(parts) or not kind[:1].isalpha():
        raise K8sError("prune_kinds: %r is not <apiVersion>/<kind> (for example v1/ConfigMap or apps/v1/Deployment)"
                       % text)
    if parts[0] == "core" and len(parts) == 2:
        api_version = parts[1]
    return api_version, kind


class PruneKind:
    """One kind whose objects are considered for pruning, with its API resource once the cluster serves it."""

    def __init__(self, api_version, kind, resource=None, namespaced=None, explicit=False):
        self.api_version = api_version
        self.kind = kind
        self.resource = resource
        self._namespaced = namespaced
        self.explicit = explicit

    @property
    def namespaced(self):
        return bool(self.resource.namespaced) if self.resource is not None else self._namespaced

    def __repr__(self):
        return "<PruneKind %s/%s>" % (self.api_version, self.kind)


def resolve_prune_kinds(client, manifests, kinds=None):
    """The kinds to prune, found in the (cached) discovery before anything is written.

    ``kinds`` (``apiVersion/kind`` strings) are taken as given, cluster-scoped ones included; each must be served
    by the cluster or defined by a CustomResourceDefinition of the batch. Without ``kinds``: the namespaced kinds
    of the manifests. Kinds are deduplicated by API group and kind.
    """
    found, seen = [], set()
    if kinds:
        crds = [m.obj for m in manifests if m.kind == "CustomResourceDefinition"]
        for text in kinds:
            api_version, kind = parse_kind(text)
            if (group_of(api_version), kind) in seen:
                continue
            seen.add((group_of(api_version), kind))
            resource = client.find_resource(api_version, kind)
            if resource is None:
                pending = [c for c in crds if _crd_serves(c, api_version, kind)]
                if not pending:
                    raise K8sError("prune_kinds: no kind %s in apiVersion %s on this cluster" % (kind, api_version),
                                   status=404)
                scope = (pending[0].get("spec") or {}).get("scope", "Namespaced")
                found.append(PruneKind(api_version, kind, namespaced=scope == "Namespaced", explicit=True))
                continue
            verbs = getattr(resource, "verbs", None)
            if verbs and not {"list", "delete"} <= set(verbs):
                raise K8sError("prune_kinds: kind %s in apiVersion %s cannot be listed and deleted (verbs: %s)"
                               % (kind, api_version, ", ".join(verbs)))
            found.append(PruneKind(api_version, kind, resource, explicit=True))
        return found
    for manifest in manifests:
        if not manifest.namespaced or (group_of(manifest.api_version), manifest.kind) in seen:
            continue
        seen.add((group_of(manifest.api_version), manifest.kind))
        found.append(PruneKind(manifest.api_version, manifest.kind, manifest.resource, namespaced=True))
    return found


def _controller_of(obj):
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return owner
    return None


def _skip_reason(obj, requirements, applied_namespaces, applied_kinds):
    """Why a listed object that is not in the applied set must not be pruned (None: prune it)."""
    meta = obj.get("metadata") or {}
    if not labels.matches(requirements, meta.get("labels")):
        return "does not match the selector (the server returned it anyway)"
    if meta.get("deletionTimestamp"):
        return "already being deleted"
    owner = _controller_of(obj)
    if owner is not None:
        return "managed by its controller %s %s" % (owner.get("kind"), owner.get("name"))
    if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1" and meta.get("name") in applied_namespaces:
        return "holds objects applied by this task"
    if obj.get("kind") == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        if (spec.get("group"), (spec.get("names") or {}).get("kind")) in applied_kinds:
            return "defines a kind applied by this task"
    return None


def _brief(obj, namespaced):
    meta = obj.get("metadata") or {}
    return {"kind": obj.get("kind"), "api_version": obj.get("apiVersion"),
            "namespace": meta.get("namespace") if namespaced else None, "name": meta.get("name")}


def _prune_rank(kind, namespaced):
    """Delete order: namespaced objects, other cluster-scoped objects, CustomResourceDefinitions, Namespaces."""
    if kind.kind == "Namespace" and kind.api_version == "v1":
        return 3
    if kind.kind == "CustomResourceDefinition":
        return 2
    return 0 if namespaced else 1


def prune_candidates(client, manifests, results, prune_kinds, selector, skipped=None):
    """List the objects of ``prune_kinds`` matching ``selector`` and sort out the ones to delete.

    Namespaced kinds are listed in the namespaces of the manifests only, cluster-scoped kinds cluster-wide.
    Returns ``[(resource, object)]`` in delete order; the listed objects left alone for a reason (controller
    owned, being deleted, ...) are appended to ``skipped``. Objects of the applied set (``results``, compared by
    API group, kind, namespace and name) are never candidates.
    """
    requirements = labels.parse_selector(selector, "prune_selector")
    skipped = [] if skipped is None else skipped
    applied = {identity(r["api_version"], r["kind"], r["namespace"], r["name"]) for r in results}
    applied_kinds = {(group_of(r["api_version"]), r["kind"]) for r in results}
    namespaces = sorted({m.namespace for m in manifests if m.namespaced and m.namespace})
    applied_namespaces = set(namespaces)
    candidates, seen = [], set()
    for kind in prune_kinds:
        if kind.resource is None:
            kind.resource = client.find_resource(kind.api_version, kind.kind)
        if kind.resource is None:
            continue  # a kind whose CustomResourceDefinition is only dry-run applied: nothing of it exists
        namespaced = bool(kind.resource.namespaced)
        for namespace in namespaces if namespaced else [None]:
            listing = client.list(kind.resource, namespace, label_selector=selector)
            for obj in listing.get("items") or []:
                meta = obj.get("metadata") or {}
                key = identity(obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") if namespaced else None,
                               meta.get("name"))
                if key in applied or key in seen:
                    continue
                seen.add(key)
                reason = _skip_reason(obj, requirements, applied_namespaces, applied_kinds)
                if reason:
                    skipped.append(dict(_brief(obj, namespaced), reason=reason))
                else:
                    candidates.append((_prune_rank(kind, namespaced), kind.resource, obj))
    candidates.sort(key=lambda c: c[0])  # stable: listing order within a rank
    return [(resource, obj) for _rank, resource, obj in candidates]


def prune_all(client, manifests, results, prune_kinds, selector, *, check_mode=False,
              propagation_policy="Foreground", want_diff=False, wait=False, wait_timeout=120, clock=None, done=None,
              skipped=None):
    """Delete the objects of ``prune_kinds`` matching ``selector`` that are not among the applied ``results``.

    Call it only after every apply succeeded. Each DELETE carries the listed object's uid as a precondition, so an
    object re-created meanwhile is left alone (reported in ``skipped``). In check mode the deletes are server
    dry runs. With ``wait`` (not in check mode) it waits, with one deadline of ``wait_timeout`` seconds, until
    the deleted objects are gone. Returns the pruned objects (``done``, when given, receives each one as soon as
    it is deleted, so a caller can report them when a later delete fails).
    """
    import time

    clock = clock or time.monotonic
    pruned = [] if done is None else done
    skipped = [] if skipped is None else skipped
    deleted = []
    for resource, obj in prune_candidates(client, manifests, results, prune_kinds, selector, skipped):
        meta = obj.get("metadata") or {}
        entry = _brief(obj, resource.namespaced)
        try:
            response = client.delete(resource, meta.get("name"), entry["namespace"],
                                     propagation_policy=propagation_policy, dry_run=check_mode, uid=meta.get("uid"))
        except K8sError as err:
            if err.status != 409:
                raise
            skipped.append(dict(entry, reason="re-created since it was listed"))
            continue
        if response is None:  # deleted by someone else between our LIST and DELETE
            continue
        entry["uid"] = meta.get("uid")
        if want_diff:
            entry["diff"] = {"before": make_diff(obj, None)["before"], "after": {}}
        pruned.append(entry)
        deleted.append((resource, entry))
    if wait and not check_mode:
        deadline = clock() + wait_timeout
        for resource, entry in deleted:
            outcome = waiter.wait_for(client, resource, entry["name"], entry["namespace"],
                                      check=waiter.deleted(entry["uid"]), timeout=max(0, deadline - clock()),
                                      description="deletion", clock=clock)
            entry["waited"] = round(outcome.elapsed, 3)
    return pruned


def to_json(obj):
    return json.dumps(obj, sort_keys=True, default=str)
