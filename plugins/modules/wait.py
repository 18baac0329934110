#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: wait
short_description: Wait for a condition on a Kubernetes object
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Waits, by watching the API (no polling), until an object has a condition, a field has a value, a rollout is
    complete, the object exists, or it is deleted.
  - On timeout the error says what was last seen (conditions, state, phase or the rollout's progress).
options:
  api_version:
    description:
      - The apiVersion of the kind, for example C(apps/v1).
    type: str
    default: v1
    aliases: [apiVersion]
  kind:
    description:
      - The object's kind.
    type: str
    required: true
  name:
    description:
      - The object's name.
      - It may not be C(.) or C(..) nor hold C(/), C(%), C(?), C(#) or white space (checked before any request).
    type: str
    required: true
  namespace:
    description:
      - The object's namespace (required for namespaced kinds), a DNS-1123 label.
    type: str
  for:
    description:
      - V(condition) waits for O(condition) in C(status.conditions).
      - V(jsonpath) waits until the field O(jsonpath) equals O(value) (or, without O(value), is set).
      - V(rollout) waits like C(kubectl rollout status) (Deployment, StatefulSet, DaemonSet); a Deployment whose
        progress deadline is exceeded fails at once.
      - V(exists) waits until the object exists; V(delete) until it does not.
    type: str
    choices: [condition, jsonpath, delete, rollout, exists]
    default: condition
  condition:
    description:
      - The condition for O(for=condition).
    type: dict
    suboptions:
      type:
        description:
          - The condition type, for example C(Available).
        type: str
        required: true
      status:
        description:
          - The status the condition must have.
        type: str
        default: "True"
        choices: ["True", "False", "Unknown"]
      reason:
        description:
          - The reason the condition must have, when given.
        type: str
  jsonpath:
    description:
      - The field for O(for=jsonpath), as C({.status.state}), C(.status.state), C(status.conditions[0].type),
        C(metadata.labels['app.kubernetes.io/name']) or C(status.conditions[?(@.type=="Ready")].status).
    type: str
  value:
    description:
      - The value the field must have (compared as text; C(true)/C(false) case-insensitively).
    type: str
  timeout:
    description:
      - How many seconds to wait, from 0 to 31622400 (a year).
    type: int
    default: 120
  fail_fast:
    description:
      - With O(for=rollout), fail as soon as a pod of the workload's current revision cannot start, instead of
        waiting out O(timeout).
      - It gives up on an image that cannot be pulled (C(ErrImagePull), C(ImagePullBackOff), C(InvalidImageName),
        C(ErrImageNeverPull)), a container that cannot be created (C(CreateContainerConfigError),
        C(CreateContainerError)) and a container in C(CrashLoopBackOff) after O(crashloop_restarts) restarts.
        The error names the pod, the container, the reason, the message and the last exit code.
      - The pods are looked at every 5 seconds of waiting; pods of an older revision being replaced do not count.
    type: bool
    default: true
  crashloop_restarts:
    description:
      - Restarts of a crash-looping container after which O(fail_fast) gives up, 0 or more.
    type: int
    default: 3
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
  - mlops.k8s.k8s_output
attributes:
  check_mode:
    description: Only reads; waits the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
seealso:
  - module: mlops.k8s.apply
  - module: mlops.k8s.info
"""

EXAMPLES = r"""
- name: Wait for a deployment to be available
  mlops.k8s.wait:
    api_version: apps/v1
    kind: Deployment
    name: iris
    namespace: models
    condition:
      type: Available

- name: Wait for a SeldonDeployment to be Available
  mlops.k8s.wait:
    api_version: machinelearning.seldon.io/v1
    kind: SeldonDeployment
    name: iris
    namespace: models
    for: jsonpath
    jsonpath: "{.status.state}"
    value: Available
    timeout: 600

- name: Wait for a rollout
  mlops.k8s.wait:
    api_version: apps/v1
    kind: Deployment
    name: iris
    namespace: models
    for: rollout

- name: Wait until a namespace is gone
  mlops.k8s.wait:
    kind: Namespace
    name: old-models
    for: delete
"""

RETURN = r"""
object:
  description: The object when the wait ended (null after O(for=delete)), without C(managedFields) and
    O(hide_fields); Secret values masked unless O(reveal_secrets=true).
  returned: always
  type: dict
elapsed:
  description: Seconds waited.
  returned: always
  type: float
  sample: 3.2
message:
  description: What was seen when the wait ended, for example the rollout's status.
  returned: always
  type: str
  sample: successfully rolled out
"""

from ansible_collections.mlops.k8s.plugins.module_utils import limits, names, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.args import CONDITION_SPEC, output_spec
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import present_object


def argument_spec():
    import copy

    return {
        "api_version": {"type": "str", "default": "v1", "aliases": ["apiVersion"]},
        "kind": {"type": "str", "required": True},
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str"},
        "for": {
            "type": "str", "default": "condition", "choices": ["condition", "jsonpath", "delete", "rollout", "exists"],
        },
        "condition": {"type": "dict", "options": copy.deepcopy(CONDITION_SPEC)},
        "jsonpath": {"type": "str"},
        "value": {"type": "str"},
        "timeout": {"type": "int", "default": 120},
        "fail_fast": {"type": "bool", "default": True},
        "crashloop_restarts": {"type": "int", "default": 3},
        **output_spec(),
    }


def build_check(params):
    """(check, failure, description) for the module's options."""
    mode = params["for"]
    if mode == "condition":
        cond = params["condition"]
        return (waiter.condition(cond["type"], cond["status"], cond.get("reason")), None,
                "condition %s=%s" % (cond["type"], cond["status"]))
    if mode == "jsonpath":
        waiter.parse_path(params["jsonpath"])  # fail early on a malformed path
        text = "%s=%s" % (params["jsonpath"], params["value"]) if params["value"] is not None else params["jsonpath"]
        return waiter.jsonpath(params["jsonpath"], params["value"]), None, text
    if mode == "rollout":
        if params["kind"] not in waiter.ROLLOUT_KINDS:
            raise K8sError("for=rollout supports %s, not %s" % (", ".join(waiter.ROLLOUT_KINDS), params["kind"]))
        return waiter.rollout(), waiter.rollout_failure, "rollout to complete"
    if mode == "delete":
        return waiter.deleted(), None, "deletion"
    return waiter.exists(), None, "the object to exist"


def run(module):
    params = module.params
    limits.check_int(params["timeout"], "timeout", 0, limits.MAX_SECONDS)
    limits.check_int(params["crashloop_restarts"], "crashloop_restarts")
    names.check_path_segment(params["name"], "name")
    if params["namespace"]:
        names.check_label(params["namespace"], "namespace")
    check, failure, description = build_check(params)
    client = module.client
    if params["for"] == "delete":
        resource = client.find_resource(params["api_version"], params["kind"])
        if resource is None:  # the kind is not served: nothing of it exists
            return {"changed": False, "object": None, "elapsed": 0.0, "message": "the cluster does not serve this kind"}
    else:
        resource = client.resource(params["api_version"], params["kind"])
    if resource.namespaced and not params["namespace"]:
        raise K8sError("namespace is required for %s %s" % (resource.kind, params["name"]))
    rollout = params["for"] == "rollout"
    explain = waiter.rollout_explanation(client) if rollout else None
    probe = waiter.rollout_probe(client, resource.kind, params["crashloop_restarts"]) \
        if rollout and params["fail_fast"] else None
    outcome = waiter.wait_for(client, resource, params["name"], params["namespace"], check=check, failure=failure,
                              timeout=params["timeout"], description=description, explain=explain, probe=probe)
    obj = None
    if params["for"] != "delete":
        obj = present_object(outcome.object, params["reveal_secrets"], params["hide_fields"])
    return {"changed": False, "object": obj, "elapsed": round(outcome.elapsed, 3), "message": outcome.detail}


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("for", "condition", ("condition",)), ("for", "jsonpath", ("jsonpath",))],
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
