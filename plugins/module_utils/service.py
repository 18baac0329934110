# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply, delete and diff of resolved manifests (see manifests.py), and what a module returns of an
object (managedFields dropped, Secret values masked).

Idempotence without writes: for an existing object a server-side apply is first sent with ``dryRun=All``;
when its result equals the live object (ignoring resourceVersion, managedFields, generation and status)
nothing is written. A second run of the same manifests therefore sends only GETs and dry-run PATCHes.
"""

from __future__ import annotations

import copy
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import apply_rank, order_for_apply, order_for_delete

VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")
SECRET_MASK = "********"  # noqa: S105 - a mask, not a password
SECRET_MASK_CHANGED = "******** (changed)"  # noqa: S105
ACTIONS = ("created", "configured", "unchanged", "deleted", "absent")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_FIELD_TOKEN = re.compile(r"\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|([^.\[\]]+)")


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
def make_result(manifest, action, obj=None, diff=None, note=None):
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


NOT_READ = object()


def apply_manifest(client, manifest, *, check_mode=False, field_manager=None, force_conflicts=False,
                   want_diff=False, pending_namespaces=(), live=NOT_READ):
    """Server-side apply one manifest; return its result dict (action created/configured/unchanged).

    ``live``: the object as the caller has just read it (None: absent), so it is not read twice."""
    if manifest.resource is None and manifest.pending_crd is not None:
        manifest.resource = client.find_resource(manifest.api_version, manifest.kind)
        if manifest.resource is None:
            if check_mode:
                return make_result(manifest, "created", manifest.obj,
                                   diff=make_diff(None, manifest.obj) if want_diff else None,
                                   note="its CustomResourceDefinition is applied in this batch; "
                                   "not validated in check mode")
            raise K8sError("%s: no kind %s in apiVersion %s on this cluster (its CustomResourceDefinition was "
                           "applied but is not served yet)" % (manifest.origin, manifest.kind, manifest.api_version))
    resource = manifest.resource
    body = manifest.obj

    if not manifest.name:  # generateName: only a create can name it
        created = client.create(resource, body, dry_run=check_mode)
        return make_result(manifest, "created", created, diff=make_diff(None, created) if want_diff else None)

    if live is NOT_READ:
        live = client.get(resource, manifest.name, manifest.namespace)
    if live is None:
        if check_mode:
            if manifest.namespace in pending_namespaces:
                return make_result(manifest, "created", body, diff=make_diff(None, body) if want_diff else None,
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
        return make_result(manifest, "created", after, diff=make_diff(None, after) if want_diff else None)

    proposed = client.apply(resource, body, field_manager=field_manager, force_conflicts=force_conflicts,
                            dry_run=True)
    if not differs(live, proposed):
        return make_result(manifest, "unchanged", live, diff=make_diff(live, live) if want_diff else None)
    after = proposed if check_mode else client.apply(
        resource, body, field_manager=field_manager, force_conflicts=force_conflicts)
    return make_result(manifest, "configured", after, diff=make_diff(live, after) if want_diff else None)


def delete_manifest(client, manifest, *, check_mode=False, propagation_policy="Foreground", want_diff=False,
                    wait=False, wait_timeout=120):
    """Delete one object; absent objects (or kinds the cluster no longer serves) give action 'absent'."""
    if manifest.resource is None:
        return make_result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None,
                           note="the cluster does not serve kind %s in apiVersion %s"
                           % (manifest.kind, manifest.api_version))
    resource = manifest.resource
    if not manifest.name:
        raise K8sError("%s: cannot delete an object without metadata.name" % manifest.origin)
    live = client.get(resource, manifest.name, manifest.namespace)
    if live is None:
        return make_result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None)
    diff = make_diff(live, None) if want_diff else None
    if diff is not None:
        diff["after"] = {}
    response = client.delete(resource, manifest.name, manifest.namespace,
                             propagation_policy=propagation_policy, dry_run=check_mode)
    if response is None:  # removed between our GET and DELETE
        return make_result(manifest, "absent", None, diff={"before": {}, "after": {}} if want_diff else None)
    if wait and not check_mode:
        uid = (live.get("metadata") or {}).get("uid")
        waiter.wait_for(client, resource, manifest.name, manifest.namespace, check=waiter.deleted(uid),
                        timeout=wait_timeout, description="deletion")
    return make_result(manifest, "deleted", live, diff=diff)


def wait_check(kind, condition=None):
    """(check, failure, description) of waiting for an applied object: the condition given, or the kind's default."""
    if condition:
        check = waiter.condition(condition["type"], condition.get("status") or "True", condition.get("reason"))
        return check, None, "condition %s=%s" % (condition["type"], condition.get("status") or "True")
    check, failure = waiter.default_check(kind)
    return check, failure, "rollout to complete" if kind in waiter.ROLLOUT_KINDS else "readiness"


def wait_all_applied(client, applied, *, timeout, condition=None, clock=None, fail_fast=True,
                     crashloop_restarts=None):
    """Wait for applied objects to be ready, ``applied`` being (manifest, result) pairs: the objects of one kind and
    namespace share one list and one watch (waiter.wait_for_all), the kinds and namespaces one after the other
    within ``timeout`` overall. Each result gets the object as last seen and the seconds it took. With
    ``fail_fast``, a rollout whose current pods cannot start (waiter.rollout_probe) fails at once."""
    clock = clock or time.monotonic
    deadline = clock() + timeout
    groups = {}
    for manifest, result in applied:
        if manifest.resource is None:
            continue
        name = manifest.name or (result.get("object") or {}).get("metadata", {}).get("name")
        key = (manifest.resource.group_version, manifest.kind, manifest.namespace)
        groups.setdefault(key, (manifest, {}))[1].setdefault(name, []).append(result)
    for manifest, by_name in groups.values():
        check, failure, description = wait_check(manifest.kind, condition)
        # an object the apply has just read or written and that is ready as the server returned it (an unchanged
        # Deployment that is Available, a CRD already Established, any object of a kind without readiness) needs
        # no list: only the others are watched
        waiting = [name for name, results in by_name.items()
                   if not all(waiter.done_as_is(check, failure, r.get("object"))[0] for r in results)]
        outcomes = {name: waiter.WaitResult(results[0].get("object"), 0.0, "ready when applied")
                    for name, results in by_name.items() if name not in waiting}
        if waiting:
            workload = manifest.kind in waiter.ROLLOUT_KINDS
            explain = waiter.rollout_explanation(client) if workload else None
            probe = (waiter.rollout_probe(client, manifest.kind, crashloop_restarts)
                     if workload and fail_fast and not condition else None)
            outcomes.update(waiter.wait_for_all(client, manifest.resource, waiting, manifest.namespace, check=check,
                                                failure=failure, timeout=timeout, deadline=deadline,
                                                description=description, clock=clock, explain=explain,
                                                probe=probe))
        for name, results in by_name.items():
            for result in results:
                result["object"] = public_object(outcomes[name].object)
                result["waited"] = round(outcomes[name].elapsed, 3)


def summarize_results(results):
    summary = {"created": 0, "configured": 0, "unchanged": 0, "deleted": 0, "absent": 0}
    for result in results:
        summary[result["action"]] = summary.get(result["action"], 0) + 1
    return summary


def run_grouped(ordered, rank, func, *, concurrency=1, done=None, before_group=None):
    """``func(item)`` for each item of ``ordered``, a group (consecutive items of equal ``rank(item)``) at a time;
    the items of a group run up to ``concurrency`` at once (one at a time when ``before_group(group)``, called in
    this thread before the group starts, returns False). Results come back in ``ordered``'s order.

    A failure stops the run at the end of its group: the group's requests already sent finish, none not yet
    started is sent, no later group starts; ``done`` (when given) receives every result that completed (in order)
    and the first failure in order is raised.
    """
    done = [] if done is None else done
    results = []
    start = 0
    while start < len(ordered):
        end = start
        while end < len(ordered) and rank(ordered[end]) == rank(ordered[start]):
            end += 1
        group = ordered[start:end]
        parallel = before_group(group) if before_group else True
        if concurrency <= 1 or len(group) == 1 or parallel is False:
            for item in group:
                results.append(func(item))
                done.append(results[-1])
        else:
            outcomes = _run_parallel(group, func, concurrency)
            finished = [o for o in outcomes if o is not _NOT_RUN and not isinstance(o, BaseException)]
            results.extend(finished)
            done.extend(finished)
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failure is not None:
                raise failure
        start = end
    return results


_NOT_RUN = object()


def _run_parallel(group, func, concurrency):
    """Each item's result or exception (``_NOT_RUN`` for the items not started once one failed), in order."""
    outcomes = [_NOT_RUN] * len(group)
    with ThreadPoolExecutor(max_workers=min(concurrency, len(group))) as pool:
        futures = {pool.submit(func, item): index for index, item in enumerate(group)}
        for future in as_completed(futures):
            if future.cancelled():
                continue
            error = future.exception()
            outcomes[futures[future]] = error if error is not None else future.result()
            if error is not None:
                for other in futures:
                    other.cancel()  # only those not started yet: they are never sent
    return outcomes


def apply_all(client, manifests, *, check_mode=False, field_manager=None, force_conflicts=False, want_diff=False,
              wait=False, wait_timeout=120, wait_condition=None, clock=None, done=None, concurrency=1,
              fail_fast=True, crashloop_restarts=None):
    """Apply resolved manifests in order (manifests.apply_rank): namespaces, CRDs (each waited Established when
    changed), other cluster-scoped objects, what pods use, then the rest; the objects of one group ``concurrency``
    at a time. Then wait (one overall deadline) for readiness when asked.

    ``done`` (a list), when given, receives the results of each group once it is applied, so a caller can report
    what was already applied when a later object fails.
    """
    clock = clock or time.monotonic
    pending_namespaces = set()

    def apply_one(manifest):
        result = apply_manifest(client, manifest, check_mode=check_mode, field_manager=field_manager,
                                force_conflicts=force_conflicts, want_diff=want_diff,
                                pending_namespaces=pending_namespaces)
        if manifest.kind == "Namespace" and result["action"] == "created" and check_mode:
            pending_namespaces.add(manifest.name)
        if manifest.kind == "CustomResourceDefinition" and result["changed"] and not check_mode:
            waiter.wait_for(client, manifest.resource, manifest.name, check=waiter.condition("Established"),
                            timeout=min(60, wait_timeout) if wait else 60,
                            description="the CustomResourceDefinition to be established")
        return result

    def resolve_kinds(group):
        """Kinds whose CRD is applied in this batch are looked up here, in one thread (discovery is read again
        on a miss); a group with a kind still unknown (check mode) is applied one object at a time."""
        for manifest in group:
            if manifest.resource is None and manifest.pending_crd is not None:
                client.discovery.forget(manifest.api_version)
                manifest.resource = client.find_resource(manifest.api_version, manifest.kind)
        return all(manifest.resource is not None for manifest in group)

    ordered = order_for_apply(manifests)
    results = run_grouped(ordered, apply_rank, apply_one, concurrency=concurrency, done=done,
                          before_group=resolve_kinds)
    if wait and not check_mode:
        wait_all_applied(client, [(m, results[i]) for i, m in enumerate(ordered)], timeout=wait_timeout,
                         condition=wait_condition, clock=clock, fail_fast=fail_fast,
                         crashloop_restarts=crashloop_restarts)
    return results


def delete_all(client, manifests, *, check_mode=False, propagation_policy="Foreground", want_diff=False,
               wait=False, wait_timeout=120, done=None, concurrency=1):
    """Delete resolved manifests in reverse apply order, the objects of one group ``concurrency`` at a time
    (``done`` as in apply_all)."""
    def delete_one(manifest):
        return delete_manifest(client, manifest, check_mode=check_mode, propagation_policy=propagation_policy,
                               want_diff=want_diff, wait=wait, wait_timeout=wait_timeout)

    return run_grouped(order_for_delete(manifests), apply_rank, delete_one, concurrency=concurrency, done=done)
