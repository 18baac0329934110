#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: namespace
short_description: Create or delete a namespace for models, with an optional ResourceQuota and LimitRange
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Creates or updates a namespace with server-side apply, with its labels and annotations.
  - Optionally manages a ResourceQuota (O(quota)) and a LimitRange (O(limit_range)) in it.
  - O(state=absent) deletes the namespace and, unless O(wait=false), waits by watching until it is really gone
    (a namespace stays C(Terminating) while its content is deleted).
  - A run that changes nothing sends no write request (changes are detected with a server-side dry run).
options:
  name:
    description:
      - Name of the namespace, a DNS-1123 label (lower case letters, digits and C(-)); checked before any request.
    type: str
    required: true
  labels:
    description:
      - Labels of the namespace. Labels set by others are kept.
      - Keys and values are checked like the API server checks them (a key is an optional DNS subdomain prefix and
        C(/) and a name of at most 63 letters, digits, C(-), C(_) and C(.); a value at most 63 of the same), before
        any request.
    type: dict
  annotations:
    description:
      - Annotations of the namespace. Annotations set by others are kept.
      - Keys are checked like label keys, before any request.
    type: dict
  quota:
    description:
      - Hard limits of a ResourceQuota named O(quota_name) in the namespace, for example
        C(requests.cpu=4), C(requests.memory=8Gi) and C(pods=20) (see the examples).
      - Every value must be a Kubernetes quantity; they are checked before anything is written.
      - When not set, an existing quota is left alone; an empty dictionary deletes the quota O(quota_name).
    type: dict
  quota_name:
    description:
      - Name of the ResourceQuota managed through O(quota), a DNS-1123 subdomain; checked before any request.
    type: str
    default: model-quota
  limit_range:
    description:
      - Default requests and limits of the containers of the namespace, as a LimitRange named O(limit_range_name).
      - When not set, an existing LimitRange is left alone; an empty dictionary deletes it.
    type: dict
    suboptions:
      default_request:
        description:
          - Requests given to containers that set none, for example C(cpu=100m) and C(memory=256Mi).
        type: dict
      default_limit:
        description:
          - Limits given to containers that set none.
        type: dict
      min:
        description:
          - Smallest requests a container may ask for.
        type: dict
      max:
        description:
          - Largest limits a container may ask for.
        type: dict
  limit_range_name:
    description:
      - Name of the LimitRange managed through O(limit_range), a DNS-1123 subdomain; checked before any request.
    type: str
    default: model-limits
  state:
    description:
      - V(present) creates or updates the namespace, V(absent) deletes it with everything in it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - With O(state=absent), whether to wait until the namespace is gone (watching it, not polling).
      - With O(state=present), whether to wait until the namespace is C(Active).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, from 0 to 31622400 (a year).
    type: int
    default: 300
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description: Every create, update and delete is sent with C(dryRun=All), so the API server validates it
      without storing anything.
    support: full
  diff_mode:
    description: Shows the namespace, quota and LimitRange before and after.
    support: full
notes:
  - A namespace that is being deleted (C(Terminating)) cannot be updated; the module fails with that reason
    instead of sending writes that would be refused.
seealso:
  - module: mlops.k8s.storage_secret
  - module: mlops.k8s.service_account
  - module: mlops.k8s.pvc
"""

EXAMPLES = r"""
- name: Namespace for the iris models, with a quota and default container resources
  mlops.k8s.namespace:
    name: models
    labels:
      team: data-science
    quota:
      requests.cpu: "4"
      requests.memory: 8Gi
      limits.memory: 16Gi
      pods: "20"
      persistentvolumeclaims: "5"
    limit_range:
      default_request:
        cpu: 100m
        memory: 256Mi
      default_limit:
        cpu: "1"
        memory: 1Gi

- name: Delete the namespace and everything in it, waiting until it is gone
  mlops.k8s.namespace:
    name: models
    state: absent
    wait_timeout: 600
"""

RETURN = r"""
namespace:
  description: The namespace as the API server returned it (without managedFields).
  returned: when O(state=present)
  type: dict
  sample: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}, "status": {"phase": "Active"}}
results:
  description: What happened to each object (namespace, quota, LimitRange).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
      sample: ResourceQuota
    name:
      description: The object's name.
      type: str
      sample: model-quota
    action:
      description: What happened (or would happen in check mode).
      type: str
      choices: [created, configured, unchanged, deleted, absent]
      sample: created
    changed:
      description: Whether the object changed.
      type: bool
waited:
  description: Seconds spent waiting for the namespace to be Active.
  returned: when O(state=present) and O(wait=true), not in check mode
  type: float
  sample: 2.5
"""

from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.namespaces import run_namespace


def argument_spec():
    quantities = {"type": "dict"}
    return {
        "name": {"type": "str", "required": True},
        "labels": {"type": "dict"},
        "annotations": {"type": "dict"},
        "quota": {"type": "dict"},
        "quota_name": {"type": "str", "default": "model-quota"},
        "limit_range": {"type": "dict", "options": {
            "default_request": dict(quantities), "default_limit": dict(quantities),
            "min": dict(quantities), "max": dict(quantities),
        }},
        "limit_range_name": {"type": "str", "default": "model-limits"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 300},
    }


def main():
    module = K8sAnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.run(run_namespace)


if __name__ == "__main__":
    main()
