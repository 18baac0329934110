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

from ansible_collections.mlops.k8s.plugins.module_utils import waiter
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
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise K8sError("%s: invalid YAML%s: %s" % (origin, where, _one_line(problem))) from None
    return [d for d in docs if d is not None]


def _expand(value, origin, out):
    """Flatten dicts, lists, YAML strings and kind: List objects into Manifests."""
    if value is None:
        return
    if isinstance(value, (bytes, str)):
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        docs = parse_yaml(text, origin)
        for i, doc in enumerate(docs):
            _expand(doc, "%s document %d" % (origin, i + 1) if len(docs) > 1 else origin, out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _expand(item, "%s[%d]" % (origin, i), out)
    elif isinstance(value, dict):
        kind = value.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
            for i, item in enumerate(value["items"]):
                _expand(item, "%s items[%d]" % (origin, i), out)
        else:
            out.append(Manifest(copy.deepcopy(value), origin))
    else:
        raise K8sError("%s: expected a mapping (a Kubernetes object), got %s %r"
                       % (origin, type(value).__name__, value))


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
        for key in ("labels", "annotations"):
            if meta.get(key) is not None and not isinstance(meta[key], dict):
                problems.append("metadata.%s must be a mapping" % key)
    if problems:
        label = ref(obj.get("kind"), None, (meta or {}).get("name") if isinstance(meta, dict) else None)
        raise K8sError("%s (%s): %s" % (manifest.origin, label, "; ".join(problems)))
    return manifest


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

    With ``reference`` (the other side of a diff), values that differ are masked as changed.
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
    return out


def make_diff(before, after):
    """{before, after} for Ansible's diff mode: managedFields/volatile metadata dropped, Secret values masked."""
    before_n = normalize(before) or {}
    after_n = normalize(after) or {}
    return {"before": mask_secret(before_n, after_n if before else None),
            "after": mask_secret(after_n, before_n if before else None)}


def public_object(obj):
    """What a module returns for an object: no managedFields, Secret values masked."""
    return mask_secret(strip_object(obj))


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


def to_json(obj):
    return json.dumps(obj, sort_keys=True, default=str)
