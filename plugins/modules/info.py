#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: info
short_description: Get or list Kubernetes objects
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Returns one object by name, or the objects of a kind matching label and field selectors.
  - Optionally waits (by watching the API) until at least one matching object exists.
options:
  api_version:
    description:
      - The apiVersion of the kind, for example C(v1), C(apps/v1) or C(machinelearning.seldon.io/v1).
    type: str
    default: v1
    aliases: [apiVersion]
  kind:
    description:
      - The kind to get, for example C(Deployment).
    type: str
    required: true
  name:
    description:
      - Name of the object. Without it, all objects matching the selectors are returned.
      - It may not be C(.) or C(..) nor hold C(/), C(%), C(?), C(#) or white space (checked before any request).
    type: str
  namespace:
    description:
      - Namespace to look in. Without it, namespaced kinds are listed in all namespaces.
    type: str
  label_selectors:
    description:
      - Label selectors, combined with AND, for example C(app=iris) or C(tier in (web, api)).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors, combined with AND, for example C(status.phase=Running).
    type: list
    elements: str
    default: []
  wait:
    description:
      - Wait until at least one matching object exists.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait, from 0 to 31622400 (a year).
    type: int
    default: 120
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
  - mlops.k8s.k8s_output
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
seealso:
  - module: mlops.k8s.apply
  - module: mlops.k8s.wait
"""

EXAMPLES = r"""
- name: Get one deployment
  mlops.k8s.info:
    api_version: apps/v1
    kind: Deployment
    name: iris
    namespace: models
  register: iris

- name: List the running pods of a model
  mlops.k8s.info:
    kind: Pod
    namespace: models
    label_selectors:
      - seldon-deployment-id=iris
    field_selectors:
      - status.phase=Running

- name: Wait for a secret that another team creates
  mlops.k8s.info:
    kind: Secret
    name: s3-credentials
    namespace: models
    wait: true
    wait_timeout: 60

- name: Read a Secret's values (masked by default), without the annotations
  mlops.k8s.info:
    kind: Secret
    name: s3-credentials
    namespace: models
    reveal_secrets: true
    hide_fields:
      - metadata.annotations
  register: credentials
  no_log: true

- name: Is Seldon Core installed?
  mlops.k8s.info:
    api_version: machinelearning.seldon.io/v1
    kind: SeldonDeployment
    namespace: models
  register: seldon
# seldon.api_found is false when the CRD is not installed
"""

RETURN = r"""
resources:
  description: The matching objects, without C(managedFields) and O(hide_fields); Secret values masked unless
    O(reveal_secrets=true).
  returned: always
  type: list
  elements: dict
api_found:
  description: Whether the cluster serves O(kind) in O(api_version).
  returned: always
  type: bool
"""

from ansible_collections.mlops.k8s.plugins.module_utils import names, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.args import output_spec
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import present_object


def argument_spec():
    return {
        "api_version": {"type": "str", "default": "v1", "aliases": ["apiVersion"]},
        "kind": {"type": "str", "required": True},
        "name": {"type": "str"},
        "namespace": {"type": "str"},
        "label_selectors": {"type": "list", "elements": "str", "default": []},
        "field_selectors": {"type": "list", "elements": "str", "default": []},
        "wait": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int", "default": 120},
        **output_spec(),
    }


def _list(client, resource, params):
    fields = list(params["field_selectors"])
    if params["name"]:
        fields.append("metadata.name=%s" % params["name"])
    listing = client.list(
        resource, namespace=params["namespace"],
        label_selector=",".join(params["label_selectors"]) or None,
        field_selector=",".join(fields) or None,
    )
    return listing


def run(module):
    params = module.params
    if params["name"]:
        names.check_path_segment(params["name"], "name")
    if params["namespace"]:
        names.check_label(params["namespace"], "namespace")
    client = module.client
    resource = client.find_resource(params["api_version"], params["kind"])
    if resource is None:
        return {"changed": False, "resources": [], "api_found": False}
    if params["name"] and resource.namespaced and not params["namespace"]:
        raise K8sError("namespace is required to get %s %s by name" % (resource.kind, params["name"]))
    if params["name"] and not params["label_selectors"] and not params["field_selectors"] and not params["wait"]:
        obj = client.get(resource, params["name"], params["namespace"])
        items = [obj] if obj is not None else []
    else:
        items = _list(client, resource, params).get("items") or []
        if params["name"]:
            items = [i for i in items if (i.get("metadata") or {}).get("name") == params["name"]]
        if not items and params["wait"]:
            items = _wait_for_any(client, resource, params)
    return {"changed": False, "api_found": True, "resources": [
        present_object(i, params["reveal_secrets"], params["hide_fields"]) for i in items]}


def _wait_for_any(client, resource, params):
    if params["name"] and not params["label_selectors"] and not params["field_selectors"]:
        outcome = waiter.wait_for(client, resource, params["name"], params["namespace"], check=waiter.exists(),
                                  timeout=params["wait_timeout"], description="the object to exist")
        return [outcome.object]
    fields = list(params["field_selectors"])
    if params["name"]:
        fields.append("metadata.name=%s" % params["name"])
    return waiter.wait_for_match(client, resource, params["namespace"],
                                 label_selector=",".join(params["label_selectors"]) or None,
                                 field_selector=",".join(fields) or None, timeout=params["wait_timeout"])


def main():
    module = K8sAnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
