#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply, prune or delete Kubernetes manifests with server-side apply
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Applies Kubernetes objects given inline, as YAML text (any number of documents) or from files, with
    server-side apply and the field manager C(mlops.k8s).
  - Namespaces and CustomResourceDefinitions are applied first, then other cluster-scoped objects, then what pods
    use (ServiceAccounts, Secrets, ConfigMaps, PersistentVolumeClaims, ResourceQuotas, LimitRanges, Services, Roles
    and RoleBindings), then the rest (workloads and custom objects);
    O(state=absent) deletes in the reverse order.
  - An object is reported changed only when a server-side dry run of the apply differs from the live object,
    so a run that changes nothing sends no write request.
  - With O(prune=true), objects that carry the labels of O(prune_selector) but are no longer among the applied
    objects are deleted afterwards, like C(kubectl apply --prune -l <selector>), within the namespaces of the
    applied objects and the kinds of O(prune_kinds).
  - Use the P(ansible.builtin.template#lookup) lookup to render templates into O(definition).
options:
  definition:
    description:
      - The objects, as a dictionary, a list of dictionaries, or a YAML string with one or more documents.
      - Objects of kind C(List) are expanded to their items.
      - At least one of O(definition) and O(src) is required.
    type: raw
  src:
    description:
      - A manifest file, or a directory whose C(*.yml), C(*.yaml) and C(*.json) files are read in name order.
      - The path is read on the host the module runs on.
    type: path
  namespace:
    description:
      - Namespace of namespaced objects that do not set C(metadata.namespace). Defaults to C(default).
      - A DNS-1123 label (lower case letters, digits and C(-), at most 63 characters); checked before any request.
      - Ignored for cluster-scoped objects.
    type: str
  state:
    description:
      - V(present) creates or updates the objects, V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
  field_manager:
    description:
      - The field manager that owns the applied fields.
    type: str
    default: mlops.k8s
  force_conflicts:
    description:
      - Take ownership of fields owned by another field manager instead of failing on a conflict.
    type: bool
    default: false
  delete_propagation:
    description:
      - How dependents are deleted with O(state=absent), and those of pruned objects with O(prune=true).
    type: str
    choices: [Foreground, Background, Orphan]
    default: Foreground
  concurrency:
    description:
      - How many objects of one group are sent at once. The groups still go one after the other, in the order
        above (namespaces, CRDs, other cluster-scoped objects, what pods use, the rest; the reverse for
        O(state=absent)), so an object never goes before its namespace or its CustomResourceDefinition.
      - V(1) sends one object at a time.
      - When an object fails, no object not yet sent is sent, those already sent finish, and the task fails with
        the first failure in that order; RV(results) lists what was done.
      - Between 1 and 32.
    type: int
    default: 8
  prune:
    description:
      - After every object was applied (and, with O(wait=true), is ready), delete the objects that match
        O(prune_selector) but are not among the applied objects, so that an object removed from the manifests is
        removed from the cluster too.
      - Only objects of the O(prune_kinds) kinds are considered; namespaced objects only in the namespaces of the
        applied objects (after O(namespace) is filled in), cluster-scoped objects only when their kind is listed
        in O(prune_kinds) explicitly.
      - Objects are compared with the applied ones by API group, kind, namespace and name, so an object applied
        as one version of its group (say C(autoscaling/v2)) is not pruned when it is listed in another.
      - Never pruned, and listed in RV(prune_skipped) with the reason, are objects managed by a controller (an
        C(ownerReferences) entry with C(controller=true), such as the ReplicaSets of a Deployment, since their
        controller deletes them), objects already being deleted, a Namespace that holds applied objects and a
        CustomResourceDefinition that defines an applied kind.
      - Each delete carries the uid of the object that was listed as a precondition, so an object re-created
        meanwhile under the same name is not deleted.
      - Nothing is pruned when an apply or a wait fails, or when there is no object to apply (use
        O(state=absent) to delete objects).
      - With O(wait=true) the task also waits, up to O(wait_timeout) seconds, until the pruned objects are gone.
      - Only with O(state=present). Requires O(prune_selector).
    type: bool
    default: false
  prune_selector:
    description:
      - The label selector of the objects this set of manifests owns, with the syntax of C(kubectl -l), for
        example C(app.kubernetes.io/instance=iris) or C(app=iris,tier in (web,api)).
      - Required with O(prune=true) and checked before anything is sent. It must require a label that objects
        carry (C(k=v), C(k==v), C(k in (a,b)), C(k) or C(k>n)); a selector made only of C(k!=v), C(k notin (a,b))
        and C(!k) terms also matches unlabelled objects and is refused.
      - Label the applied objects with it too; the task warns about applied objects that do not match it, since
        removing them from the manifests later would not prune them.
      - Ignored (with a warning) without O(prune=true).
    type: str
  prune_kinds:
    description:
      - The kinds whose objects may be pruned, each as C(apiVersion/kind), for example C(v1/ConfigMap) or
        C(apps/v1/Deployment); kubectl's C(core/v1/ConfigMap) form is accepted.
      - Defaults to the namespaced kinds of the applied objects. A kind given here that the task does not apply
        is pruned too (for example C(v1/Secret) when the last Secret was removed from the manifests).
      - Cluster-scoped kinds (C(rbac.authorization.k8s.io/v1/ClusterRole), ...) are pruned only when given here,
        and then cluster-wide.
      - Each kind must be served by the cluster, or defined by a CustomResourceDefinition applied by the same task,
        and allow list and delete; this is checked before anything is written.
      - Ignored (with a warning) without O(prune=true).
    type: list
    elements: str
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
  - mlops.k8s.k8s_wait
attributes:
  check_mode:
    description:
      - Sends the applies and deletes with C(dryRun=All), so the API server validates them.
      - With O(prune=true) it lists the objects to prune and sends their deletes with C(dryRun=All) too; RV(pruned)
        lists what would be pruned and nothing is written.
    support: full
  diff_mode:
    description: Shows each object before and after (a pruned object as before and nothing after); Secret values are
      always masked.
    support: full
notes:
  - Objects with C(metadata.generateName) and no name are created with a POST on every run; with O(prune=true) the
    objects created by earlier runs are then pruned when they match O(prune_selector).
seealso:
  - module: mlops.k8s.info
  - module: mlops.k8s.wait
"""

EXAMPLES = r"""
- name: Apply a namespace and a config map
  mlops.k8s.apply:
    definition:
      - apiVersion: v1
        kind: Namespace
        metadata:
          name: models
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: iris-settings
          namespace: models
        data:
          threshold: "0.5"

- name: Apply every manifest of a directory and wait for the rollouts
  mlops.k8s.apply:
    src: manifests/
    namespace: models
    wait: true
    wait_timeout: 300

- name: Apply a rendered template
  mlops.k8s.apply:
    definition: "{{ lookup('ansible.builtin.template', 'deployment.yaml.j2') }}"
    wait: true
    wait_condition:
      type: Available

- name: Apply the manifests of an application and delete its objects that are no longer in them
  mlops.k8s.apply:
    src: manifests/iris/
    namespace: models
    prune: true
    prune_selector: app.kubernetes.io/instance=iris
  register: applied

- name: Show what was pruned
  ansible.builtin.debug:
    msg: "{{ applied.pruned | map(attribute='name') | list }}"

- name: Prune Secrets and a ClusterRole too, even when none is left in the manifests, and wait until they are gone
  mlops.k8s.apply:
    src: manifests/iris/
    namespace: models
    prune: true
    prune_selector: app.kubernetes.io/instance=iris
    prune_kinds:
      - v1/ConfigMap
      - v1/Secret
      - apps/v1/Deployment
      - rbac.authorization.k8s.io/v1/ClusterRole
    wait: true

- name: Remove the same objects and wait until they are gone
  mlops.k8s.apply:
    src: manifests/
    namespace: models
    state: absent
    wait: true
"""

RETURN = r"""
results:
  description: One entry per object, in the order they were applied (or deleted).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
      sample: Deployment
    api_version:
      description: The object's apiVersion.
      type: str
      sample: apps/v1
    namespace:
      description: The object's namespace (null for cluster-scoped objects).
      type: str
      sample: models
    name:
      description: The object's name.
      type: str
      sample: iris
    action:
      description: What happened (or would happen in check mode).
      type: str
      sample: configured
      choices: [created, configured, unchanged, deleted, absent]
    changed:
      description: Whether the object was changed.
      type: bool
    object:
      description: The object as the API server returned it, without C(managedFields); Secret values masked.
      type: dict
    diff:
      description: The object before and after (managed fields dropped, Secret values masked).
      type: dict
      returned: when diff mode is on
    waited:
      description: Seconds spent waiting for the object.
      type: float
      returned: when O(wait=true)
    note:
      description: Why an object was not validated by the server in check mode.
      type: str
      returned: sometimes
summary:
  description:
    - How many objects had each action.
    - With O(prune=true), also C(pruned), the number of objects pruned (or that would be pruned in check mode).
  returned: always
  type: dict
  sample: {"created": 1, "configured": 0, "unchanged": 3, "deleted": 0, "absent": 0, "pruned": 1}
pruned:
  description:
    - The objects deleted by O(prune=true) (in check mode, the objects that would be deleted), in the order they
      were deleted. Not in RV(results).
    - The task is changed when this list is not empty.
  returned: when O(prune=true)
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
      sample: ConfigMap
    api_version:
      description: The apiVersion the object was listed in.
      type: str
      sample: v1
    namespace:
      description: The object's namespace (null for cluster-scoped objects).
      type: str
      sample: models
    name:
      description: The object's name.
      type: str
      sample: iris-old-settings
    uid:
      description: The uid of the deleted object.
      type: str
      sample: 1f0c3c1e-8f4e-4a57-9a43-5d1e0f7b2d11
    diff:
      description: The object before and nothing after (managed fields dropped, Secret values masked).
      type: dict
      returned: when diff mode is on
    waited:
      description: Seconds spent waiting for the object to be gone.
      type: float
      returned: when O(wait=true) and not in check mode
  sample:
    - {"kind": "ConfigMap", "api_version": "v1", "namespace": "models", "name": "iris-old-settings",
       "uid": "1f0c3c1e-8f4e-4a57-9a43-5d1e0f7b2d11"}
prune_skipped:
  description: Objects that match O(prune_selector) and are not among the applied objects but were left alone.
  returned: when O(prune=true)
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
      sample: ReplicaSet
    api_version:
      description: The apiVersion the object was listed in.
      type: str
      sample: apps/v1
    namespace:
      description: The object's namespace (null for cluster-scoped objects).
      type: str
      sample: models
    name:
      description: The object's name.
      type: str
      sample: iris-5d8f7c9b6
    reason:
      description: Why the object was not pruned.
      type: str
      sample: managed by its controller Deployment iris
"""

from ansible_collections.mlops.k8s.plugins.module_utils import labels, names
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import load_manifests, resolve, validate_manifest
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.prune import parse_kind, prune_all, resolve_prune_kinds
from ansible_collections.mlops.k8s.plugins.module_utils.service import apply_all, delete_all, summarize_results


def argument_spec():
    return {
        "definition": {"type": "raw"},
        "src": {"type": "path"},
        "namespace": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "field_manager": {"type": "str", "default": "mlops.k8s"},
        "force_conflicts": {"type": "bool", "default": False},
        "concurrency": {"type": "int", "default": 8},
        "delete_propagation": {
            "type": "str", "default": "Foreground", "choices": ["Foreground", "Background", "Orphan"],
        },
        "prune": {"type": "bool", "default": False},
        "prune_selector": {"type": "str"},
        "prune_kinds": {"type": "list", "elements": "str"},
    }


UNMATCHED_SHOWN = 5


MAX_CONCURRENCY = 32


def check_concurrency(value):
    if isinstance(value, bool) or not 1 <= value <= MAX_CONCURRENCY:
        raise K8sError("concurrency must be between 1 and %d (got %s)" % (MAX_CONCURRENCY, value))
    return value


def check_prune_options(module):
    """Validate the prune options before anything is sent; return the selector's requirements (None: no prune)."""
    params = module.params
    selector = params["prune_selector"]
    if not params["prune"]:
        if selector is not None or params["prune_kinds"]:
            module.warn("prune_selector and prune_kinds are ignored without prune=true")
        return None
    if params["state"] != "present":
        raise K8sError("prune=true works with state=present only (state=absent deletes exactly the given objects)")
    if selector is None or not selector.strip():
        raise K8sError("prune=true requires prune_selector, a label selector such as app=iris: only objects with "
                       "these labels are pruned, never every object of a kind")
    requirements = labels.parse_selector(selector, "prune_selector")
    if not labels.is_restrictive(requirements):
        raise K8sError("prune_selector %r only excludes labels, so it matches unlabelled objects too; add a "
                       "requirement the objects must meet, such as k=v, k in (a,b) or k" % selector)
    for text in params["prune_kinds"] or []:
        parse_kind(text)
    return requirements


def warn_unmatched(module, manifests, requirements):
    unmatched = [m.ref() for m in manifests if not labels.matches(requirements, m.meta.get("labels"))]
    if unmatched:
        more = len(unmatched) - UNMATCHED_SHOWN
        module.warn("%d applied object(s) do not match prune_selector %r, so they will not be pruned once removed "
                    "from the manifests: %s%s" % (len(unmatched), module.params["prune_selector"],
                                                  ", ".join(unmatched[:UNMATCHED_SHOWN]),
                                                  " and %d more" % more if more > 0 else ""))


def summarize(results, pruned=None):
    summary = summarize_results(results)
    if pruned is not None:
        summary["pruned"] = len(pruned)
    return summary


def run(module):
    params = module.params
    if params["namespace"]:
        names.check_label(params["namespace"], "namespace")
    concurrency = check_concurrency(params["concurrency"])
    requirements = check_prune_options(module)
    prune = requirements is not None
    pruned = [] if prune else None
    skipped = [] if prune else None
    extra = {"pruned": pruned, "prune_skipped": skipped} if prune else {}
    manifests = load_manifests(params["definition"], params["src"])
    if not manifests:
        if prune:
            module.warn("no object to apply, so nothing is pruned (state=absent deletes objects)")
        return dict(extra, changed=False, results=[], summary=summarize([], pruned), msg="no object in definition/src")
    for manifest in manifests:
        validate_manifest(manifest)
    client = module.client
    present = params["state"] == "present"
    resolve(client, manifests, params["namespace"], for_delete=not present)
    prune_kinds = None
    if prune:
        prune_kinds = resolve_prune_kinds(client, manifests, params["prune_kinds"])
        warn_unmatched(module, manifests, requirements)
    done = []
    try:
        if present:
            results = apply_all(
                client, manifests, check_mode=module.check_mode, field_manager=params["field_manager"],
                force_conflicts=params["force_conflicts"], want_diff=module.diff_mode, wait=params["wait"],
                wait_timeout=params["wait_timeout"], wait_condition=params["wait_condition"], done=done,
                concurrency=concurrency, fail_fast=params["wait_fail_fast"],
                crashloop_restarts=params["wait_crashloop_restarts"],
            )
        else:
            results = delete_all(
                client, manifests, check_mode=module.check_mode, propagation_policy=params["delete_propagation"],
                want_diff=module.diff_mode, wait=params["wait"], wait_timeout=params["wait_timeout"], done=done,
                concurrency=concurrency,
            )
        if prune:  # only reached when every apply (and wait) succeeded
            prune_all(
                client, manifests, results, prune_kinds, params["prune_selector"], check_mode=module.check_mode,
                propagation_policy=params["delete_propagation"], want_diff=module.diff_mode, wait=params["wait"],
                wait_timeout=params["wait_timeout"], done=pruned, skipped=skipped,
            )
    except K8sError as err:
        # report what was already done before the failure
        module.fail(err, changed=any(r["changed"] for r in done) or bool(pruned), results=done,
                    summary=summarize(done, pruned), **extra)
    result = dict(
        extra,
        changed=any(r["changed"] for r in results) or bool(pruned),
        results=results,
        summary=summarize(results, pruned),
    )
    if module.diff_mode:
        result["diff"] = [r["diff"] for r in results if r.get("diff") is not None and r["changed"]]
        result["diff"] += [p["diff"] for p in pruned or []]
    return result


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        wait=True,
        requires_yaml=True,
        required_one_of=[("definition", "src")],
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
