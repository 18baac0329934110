#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pvc
short_description: PersistentVolumeClaim for models and training data, with a wait until Bound
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Creates or updates a PersistentVolumeClaim with server-side apply, for example a C(ReadWriteMany) claim a
    training step writes a model to and a model server reads it from.
  - Refuses to shrink a claim (Kubernetes cannot), comparing sizes as quantities (C(2Gi) equals C(2048Mi), C(1G) is
    less than C(1Gi)); grows it only when its StorageClass has C(allowVolumeExpansion=true), otherwise fails
    with the reason before any write.
  - Fails before any write when an immutable field (access modes, storage class, volume mode) would change.
  - O(wait_bound=true) watches the claim until its phase is C(Bound). With a StorageClass whose
    C(volumeBindingMode) is C(WaitForFirstConsumer) the claim only binds when a pod using it is scheduled; the
    module then does not wait, and says so in a warning and in RV(binding_mode).
options:
  name:
    description:
      - Name of the claim, a DNS-1123 subdomain (lower case letters, digits, C(-) and C(.)); checked before any request.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the claim.
    type: str
    required: true
  size:
    description:
      - Storage requested, a Kubernetes quantity such as V(10Gi) or V(500Mi). Required with O(state=present).
    type: str
  access_modes:
    description:
      - Access modes; V(ReadWriteMany) (or V(RWX)) lets a training pod and a model server mount the claim at once.
      - The short forms V(RWO), V(ROX), V(RWX) and V(RWOP) are accepted.
    type: list
    elements: str
    default: [ReadWriteOnce]
  storage_class:
    description:
      - StorageClass of the claim. When not set, the cluster's default class; V("") asks for no class (binding to
        a pre-created PersistentVolume).
    type: str
  volume_mode:
    description:
      - V(Filesystem) or V(Block). When not set, the API server's default (V(Filesystem)).
    type: str
    choices: [Filesystem, Block]
  labels:
    description:
      - Labels of the claim (C(app.kubernetes.io/managed-by=mlops.k8s) is always added).
    type: dict
  annotations:
    description:
      - Annotations of the claim.
    type: dict
  wait_bound:
    description:
      - Wait (watching the claim) until its phase is C(Bound), except with a C(WaitForFirstConsumer) class.
    type: bool
    default: false
  wait:
    description:
      - With O(state=absent), wait until the claim is gone. A claim in use by a pod stays until the pod is
        deleted (C(kubernetes.io/pvc-protection)).
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait, for O(wait_bound) or O(wait), from 0 to 31622400 (a year).
    type: int
    default: 120
  state:
    description:
      - V(present) creates or updates the claim, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description: The create, update or delete is sent with C(dryRun=All), so the API server validates it; nothing
      is stored and nothing is waited for.
    support: full
  diff_mode:
    description: Shows the claim before and after.
    support: full
seealso:
  - module: mlops.k8s.namespace
  - name: Kubernetes - expanding persistent volume claims
    description: Which claims can grow.
    link: https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
"""

EXAMPLES = r"""
- name: Shared volume for the train -> serve hand-off, wait until it is bound
  mlops.k8s.pvc:
    name: model-parameters-pvc
    namespace: models
    size: 2Gi
    access_modes: [ReadWriteMany]
    wait_bound: true

- name: Grow it (its StorageClass must allow volume expansion)
  mlops.k8s.pvc:
    name: model-parameters-pvc
    namespace: models
    size: 5Gi
    access_modes: [ReadWriteMany]

- name: Remove it
  mlops.k8s.pvc:
    name: model-parameters-pvc
    namespace: models
    state: absent
"""

RETURN = r"""
pvc:
  description: The claim as the API server returned it (without managedFields).
  returned: when O(state=present)
  type: dict
phase:
  description: The claim's phase (C(Pending), C(Bound), C(Lost)).
  returned: when O(state=present)
  type: str
  sample: Bound
bound:
  description: Whether the claim is bound.
  returned: when O(state=present)
  type: bool
storage_class:
  description: The claim's StorageClass (the default class when none was given), null when there is none.
  returned: when O(state=present)
  type: str
  sample: standard
binding_mode:
  description: C(volumeBindingMode) of the StorageClass, C(Immediate) or C(WaitForFirstConsumer); null without a
    class.
  returned: when O(state=present)
  type: str
  sample: WaitForFirstConsumer
waited:
  description: Seconds spent waiting for C(Bound).
  returned: when the module waited for Bound
  type: float
msg:
  description: Why the module did not wait for C(Bound).
  returned: when O(wait_bound=true) and the class binds on first consumer
  type: str
results:
  description: What happened to the claim.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: What happened (or would happen in check mode).
      type: str
      choices: [created, configured, unchanged, deleted, absent]
    changed:
      description: Whether the claim changed.
      type: bool
"""

from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.volumes import run_pvc


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "size": {"type": "str"},
        "access_modes": {"type": "list", "elements": "str", "default": ["ReadWriteOnce"]},
        "storage_class": {"type": "str"},
        "volume_mode": {"type": "str", "choices": ["Filesystem", "Block"]},
        "labels": {"type": "dict"},
        "annotations": {"type": "dict"},
        "wait_bound": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int", "default": 120},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }


def main():
    module = K8sAnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                              required_if=[("state", "present", ("size",))])
    module.run(run_pvc)


if __name__ == "__main__":
    main()
