#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply or delete Kubernetes manifests with server-side apply
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Applies Kubernetes objects given inline, as YAML text (any number of documents) or from files, with
    server-side apply and the field manager C(mlops.k8s).
  - Namespaces and CustomResourceDefinitions are applied first, then other cluster-scoped objects, then the rest;
    O(state=absent) deletes in the reverse order.
  - An object is reported changed only when a server-side dry run of the apply differs from the live object,
    so a run that changes nothing sends no write request.
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
      - How dependents are deleted with O(state=absent).
    type: str
    choices: [Foreground, Background, Orphan]
    default: Foreground
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
  - mlops.k8s.k8s_wait
attributes:
  check_mode:
    description: Sends the applies and deletes with C(dryRun=All), so the API server validates them.
    support: full
  diff_mode:
    description: Shows each object before and after; Secret values are always masked.
    support: full
notes:
  - Objects with C(metadata.generateName) and no name are created with a POST on every run.
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
  description: How many objects had each action.
  returned: always
  type: dict
  sample: {"created": 1, "configured": 0, "unchanged": 3, "deleted": 0, "absent": 0}
"""

from ansible_collections.mlops.k8s.plugins.module_utils import resource as res
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule


def argument_spec():
    return {
        "definition": {"type": "raw"},
        "src": {"type": "path"},
        "namespace": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "field_manager": {"type": "str", "default": "mlops.k8s"},
        "force_conflicts": {"type": "bool", "default": False},
        "delete_propagation": {
            "type": "str", "default": "Foreground", "choices": ["Foreground", "Background", "Orphan"],
        },
    }


def run(module):
    params = module.params
    manifests = res.load_manifests(params["definition"], params["src"])
    if not manifests:
        return {"changed": False, "results": [], "summary": res.summarize_results([]),
                "msg": "no object in definition/src"}
    for manifest in manifests:
        res.validate_manifest(manifest)
    client = module.client
    present = params["state"] == "present"
    res.resolve(client, manifests, params["namespace"], for_delete=not present)
    done = []
    try:
        if present:
            results = res.apply_all(
                client, manifests, check_mode=module.check_mode, field_manager=params["field_manager"],
                force_conflicts=params["force_conflicts"], want_diff=module.diff_mode, wait=params["wait"],
                wait_timeout=params["wait_timeout"], wait_condition=params["wait_condition"], done=done,
            )
        else:
            results = res.delete_all(
                client, manifests, check_mode=module.check_mode, propagation_policy=params["delete_propagation"],
                want_diff=module.diff_mode, wait=params["wait"], wait_timeout=params["wait_timeout"], done=done,
            )
    except K8sError as err:
        # report what was already done before the failure
        module.fail(err, changed=any(r["changed"] for r in done), results=done,
                    summary=res.summarize_results(done))
    result = {
        "changed": any(r["changed"] for r in results),
        "results": results,
        "summary": res.summarize_results(results),
    }
    if module.diff_mode:
        result["diff"] = [r["diff"] for r in results if r.get("diff") is not None and r["changed"]]
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
