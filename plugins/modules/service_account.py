#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: service_account
short_description: ServiceAccount with a least-privilege Role and binding from a preset
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Creates or updates a ServiceAccount, a Role (or a ClusterRole with O(cluster_wide=true)) holding the rules of
    a preset and/or explicit O(rules), and a RoleBinding (or ClusterRoleBinding) of the role to the account.
  - Rules never contain wildcards nor the C(escalate), C(bind) or C(impersonate) verbs, and no built-in role such
    as C(cluster-admin) or C(admin) is ever bound; explicit rules breaking this are refused before any write.
  - Grants known to lead to more rights than they say are refused too, unless named in O(allow_risky_rules) (then
    the task warns) - reading Secrets cluster-wide, creating C(serviceaccounts/token), creating C(pods), C(pods/exec)
    or C(pods/attach), and C(nodes/proxy). No preset needs any of them.
  - Objects are named after the account (O(role_name) to change it); cluster-scoped ones are named
    C(<namespace>:<name>). Each role and binding carries the annotation C(mlops.k8s/service-account) set to
    C(<namespace>/<name>); an existing role or binding of that name that belongs to another account fails the task
    before any write, and is never updated nor deleted.
  - The role and binding of the other scope, left by an earlier run with another O(cluster_wide), and cluster-scoped
    ones named C(<namespace>-<name>) by earlier versions, are removed when they belong to the account (the
    annotation, or for objects made before it the C(app.kubernetes.io/managed-by=mlops.k8s) label and a binding of
    this account only).
  - A run that changes nothing sends no write request.
options:
  name:
    description:
      - Name of the ServiceAccount.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the ServiceAccount (and of the Role and RoleBinding).
    type: str
    required: true
  preset:
    description:
      - V(pipeline) is what a train -> deploy pipeline needs (the tempo-pipeline RBAC of the Metaflow/Tempo
        example, without its wildcards) - run as Argo steps (create and patch C(workflowtaskresults)), submit and
        follow Argo C(workflows) (C(create), C(get), C(list), C(watch)), read C(workflowtemplates) (C(get),
        C(list)), create, read, update, delete and watch C(seldondeployments) and C(get) their status, read
        C(pods) (C(get), C(list), C(watch)) and C(pods/log) (C(get)), and C(get) and C(list) C(deployments)
        (C(apps)).
      - V(seldon-deployer) grants C(create), C(get), C(list), C(watch), C(patch), C(update) and C(delete) on
        C(seldondeployments), C(get) on C(seldondeployments/status), and C(get) and C(list) on C(deployments) (the
        wait of M(mlops.k8s.seldon_deployment) reads the predictor Deployments to confirm a rollout), in the
        namespace.
      - V(argo-workflow) is what the pod of an Argo Workflows step needs with the emissary executor (Argo 3.4 and
        later, the only executor of 3.5) - C(create) and C(patch) on C(workflowtaskresults). Legacy executors of
        Argo 3.3 and before patched the pod instead; add that with O(rules) if you still run one.
      - The rules granted are returned in RV(rules).
    type: str
    choices: [pipeline, seldon-deployer, argo-workflow]
  rules:
    description:
      - Explicit rules, granted in addition to the O(preset) ones (or alone).
      - Without O(preset) and O(rules), only the ServiceAccount is managed (and a role and binding this module made
        earlier for it are removed).
    type: list
    elements: dict
    suboptions:
      api_groups:
        description:
          - API groups; V("") is the core group.
        type: list
        elements: str
        default: [""]
      resources:
        description:
          - Resources (plural names), and subresources as C(resource/subresource).
        type: list
        elements: str
        required: true
      verbs:
        description:
          - Verbs among C(get), C(list), C(watch), C(create), C(update), C(patch), C(delete), C(deletecollection).
        type: list
        elements: str
        required: true
      resource_names:
        description:
          - Restrict the rule to these object names.
        type: list
        elements: str
  cluster_wide:
    description:
      - Grant the rules in every namespace, with a ClusterRole and a ClusterRoleBinding named
        C(<namespace>:<name>). Prefer the default, a Role in the namespace.
    type: bool
    default: false
  allow_risky_rules:
    description:
      - Grants that lead to more rights than they say, allowed anyway (with a warning) - V(cluster-secrets-read)
        (C(get), C(list) or C(watch) on C(secrets) with O(cluster_wide=true)), V(token-create) (C(create) on
        C(serviceaccounts/token), a token for any account), V(pods-create) (C(create) on C(pods), a pod running as
        any account of the namespace), V(pods-exec) (C(pods/exec) or C(pods/attach)), V(nodes-proxy)
        (C(nodes/proxy), the kubelet API).
      - Without it, rules making any of them are refused before any request.
    type: list
    elements: str
    choices: [cluster-secrets-read, token-create, pods-create, pods-exec, nodes-proxy]
    default: []
  role_name:
    description:
      - Name of the Role and the binding (before the namespace prefix of cluster-scoped ones). Defaults to O(name).
      - A DNS-1123 subdomain (lower case letters, digits, C(-) and C(.), at most 253 characters), like O(name);
        checked before any request.
    type: str
  image_pull_secrets:
    description:
      - Names of Secrets of type C(kubernetes.io/dockerconfigjson) the pods of this account pull images with.
      - Each a DNS-1123 subdomain (the rule of Secret names); checked before any request.
    type: list
    elements: str
  automount_service_account_token:
    description:
      - Whether pods of this account get its token mounted. Not set leaves the Kubernetes default (mounted).
    type: bool
  labels:
    description:
      - Labels of the created objects (C(app.kubernetes.io/managed-by=mlops.k8s) is always added).
    type: dict
  annotations:
    description:
      - Annotations of the ServiceAccount, for example C(eks.amazonaws.com/role-arn) for IAM roles for service
        accounts.
    type: dict
  state:
    description:
      - V(present) creates or updates the objects, V(absent) removes the account, its role and its binding.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description: Every create, update and delete is sent with C(dryRun=All); nothing is stored.
    support: full
  diff_mode:
    description: Shows each changed object before and after.
    support: full
seealso:
  - module: mlops.k8s.namespace
  - name: Argo Workflows - workflow RBAC
    description: The executor's minimal permissions.
    link: https://argo-workflows.readthedocs.io/en/latest/workflow-rbac/
"""

EXAMPLES = r"""
- name: Service account of the train -> deploy pipeline (tempo-pipeline in the Metaflow example)
  mlops.k8s.service_account:
    name: tempo-pipeline
    namespace: production
    preset: pipeline

- name: Account of the Argo workflow steps, pulling images from a private registry
  mlops.k8s.service_account:
    name: workflow
    namespace: models
    preset: argo-workflow
    image_pull_secrets:
      - registry-credentials

- name: Deployer that may also read config maps
  mlops.k8s.service_account:
    name: deployer
    namespace: models
    preset: seldon-deployer
    rules:
      - resources: [configmaps]
        verbs: [get, list]

- name: Remove the account with its role and binding
  mlops.k8s.service_account:
    name: deployer
    namespace: models
    state: absent
"""

RETURN = r"""
rules:
  description: The rules granted (Kubernetes form), empty with O(state=absent).
  returned: always
  type: list
  elements: dict
  sample: [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
service_account:
  description: Name of the ServiceAccount.
  returned: when O(state=present)
  type: str
  sample: tempo-pipeline
role:
  description: Kind and name of the role holding the rules (null without rules).
  returned: when O(state=present)
  type: dict
  sample: {"kind": "Role", "name": "tempo-pipeline"}
binding:
  description: Kind and name of the binding (null without rules).
  returned: when O(state=present)
  type: dict
  sample: {"kind": "RoleBinding", "name": "tempo-pipeline"}
results:
  description: What happened to each object.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
      sample: Role
    name:
      description: The object's name.
      type: str
      sample: tempo-pipeline
    action:
      description: What happened (or would happen in check mode).
      type: str
      choices: [created, configured, unchanged, deleted, absent]
      sample: created
    changed:
      description: Whether the object changed.
      type: bool
"""

from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.rbac_presets import (
    PRESET_NAMES,
    RISKY_GRANT_NAMES,
    run_service_account,
)


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "preset": {"type": "str", "choices": list(PRESET_NAMES)},
        "rules": {"type": "list", "elements": "dict", "options": {
            "api_groups": {"type": "list", "elements": "str", "default": [""]},
            "resources": {"type": "list", "elements": "str", "required": True},
            "verbs": {"type": "list", "elements": "str", "required": True},
            "resource_names": {"type": "list", "elements": "str"},
        }},
        "cluster_wide": {"type": "bool", "default": False},
        "allow_risky_rules": {"type": "list", "elements": "str", "choices": list(RISKY_GRANT_NAMES), "default": []},
        "role_name": {"type": "str"},
        "image_pull_secrets": {"type": "list", "elements": "str", "no_log": False},  # names, not secrets
        "automount_service_account_token": {"type": "bool"},
        "labels": {"type": "dict"},
        "annotations": {"type": "dict"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }


def main():
    module = K8sAnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.run(run_service_account)


if __name__ == "__main__":
    main()
