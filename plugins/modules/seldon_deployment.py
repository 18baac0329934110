#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: seldon_deployment
short_description: Create, update or delete a Seldon Core v1 SeldonDeployment and wait until it serves
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Builds a C(machinelearning.seldon.io/v1) C(SeldonDeployment) from friendly options (prepackaged model servers
    from a model URI, custom containers with environment, probes and PVC mounts, inference graphs, canary and
    shadow predictors), or takes a full O(definition), and applies it with server-side apply
    (field manager C(mlops.k8s)).
  - An update is sent only when a server-side dry run differs from the live object, so a second run reports
    C(changed=false) and writes nothing.
  - With O(wait=true) it watches the SeldonDeployment until C(status.state) is C(Available) for the applied
    spec (an C(Available) written before the change is not trusted). When the state becomes C(Failed), when a
    Pod of the deployment cannot start (image pull errors, a crash loop, a bad container configuration) or when
    O(wait_timeout) expires, the task fails at once with the controller's description, the failing predictor
    and an explanation gathered from the namespace (Deployment conditions, container states with the last
    termination message, recent Warning events).
  - With O(render_only=true) or O(dest) the manifest is only rendered (and written to O(dest)), for GitOps;
    the cluster is not contacted at all.
options:
  name:
    description:
      - Name of the SeldonDeployment. Required unless O(definition) has C(metadata.name).
      - Overrides C(metadata.name) of O(definition) when both are given.
      - Lower case letters, digits and C(-), starting and ending with a letter or digit, at most 253 characters
        (C(metadata.name) of O(definition) too); checked before any request.
    type: str
  namespace:
    description:
      - Namespace of the SeldonDeployment. Defaults to C(metadata.namespace) of O(definition), then C(default).
      - When rendering, the manifest has no namespace unless one is given.
      - A DNS-1123 label (lower case letters, digits and C(-), at most 63 characters), as is
        C(metadata.namespace) of O(definition); checked before any request.
    type: str
  state:
    description:
      - V(present) creates or updates the SeldonDeployment, V(absent) deletes it (and, with O(wait=true), waits
        until it is gone).
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A complete SeldonDeployment, as a dictionary or a YAML string. Mutually exclusive with O(predictors).
      - It is checked like a built one (traffic split, predictor names, C(modelUri) of prepackaged servers).
    type: raw
  predictors:
    description:
      - The predictors. The options of a predictor that describe a graph node (O(predictors[].implementation),
        O(predictors[].image), ...) describe its root node, named O(predictors[].model_name); give
        O(predictors[].children) for an inference graph, or the whole tree in O(predictors[].graph).
      - Non-shadow predictors share the traffic; with more than one, their O(predictors[].traffic) must add up to
        100 (a canary).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the predictor (part of the names of its Deployments and Service).
        type: str
        default: default
      model_name:
        description:
          - Name of the root graph node (and of its container). With protocol V(v2) it is the model name in the
            inference path.
        type: str
        default: classifier
      implementation:
        description:
          - A prepackaged server (V(SKLEARN_SERVER), V(XGBOOST_SERVER), V(MLFLOW_SERVER), V(TENSORFLOW_SERVER),
            V(TRITON_SERVER), V(HUGGINGFACE_SERVER), V(TEMPO_SERVER)) that needs O(predictors[].model_uri), or a
            built-in unit (V(SIMPLE_MODEL), V(SIMPLE_ROUTER), V(RANDOM_ABTEST), V(AVERAGE_COMBINER)).
          - Give either this or O(predictors[].image).
        type: str
      model_uri:
        description:
          - Where the model artifacts are, as the storage initializer reads them - C(s3://bucket/path),
            C(gs://bucket/path), C(pvc://claim/path), C(http://) or C(https://) (Azure Blob is
            C(https://<account>.blob.core.windows.net/<container>/path)), or an rclone remote
            C(<remote>:bucket/path) configured by M(mlops.k8s.storage_secret).
          - Anything else (C(ftp://), a bare word, a local path, no bucket as in C(s3:///path)) fails before any
            request. A O(definition) is checked the same way.
        type: str
      env_secret_ref_name:
        description:
          - Secret whose keys the storage initializer gets as environment (for example the rclone or
            AWS-style S3 credentials made by M(mlops.k8s.storage_secret)).
        type: str
      storage_initializer_image:
        description: Image of the init container that downloads O(predictors[].model_uri).
        type: str
      service_account_name:
        description: Service account of the graph node (C(graph.serviceAccountName)), used to fetch the model.
        type: str
      parameters:
        description:
          - Parameters of the node, as a list of C(name), C(value), C(type) (V(INT), V(FLOAT), V(DOUBLE),
            V(STRING), V(BOOL)), or a mapping of name to value with the type inferred.
        type: raw
      type:
        description: Type of the root node.
        type: str
        choices: [MODEL, TRANSFORMER, ROUTER, COMBINER, OUTPUT_TRANSFORMER]
        default: MODEL
      methods:
        description: Methods of the node (C(TRANSFORM_INPUT), C(ROUTE), ...), rarely needed.
        type: list
        elements: str
      endpoint_type:
        description: Endpoint type of the node.
        type: str
        choices: [REST, GRPC]
      logger:
        description: Request logger of the node (C(url), C(mode)).
        type: dict
      image:
        description: Image of a custom model container (a component of the predictor's pod spec).
        type: str
      image_pull_policy:
        description: Pull policy of the container.
        type: str
        choices: [Always, IfNotPresent, Never]
      command:
        description: Command of the container.
        type: list
        elements: str
      args:
        description: Arguments of the container.
        type: list
        elements: str
      env:
        description:
          - Environment of the container, as a mapping of name to value (or to a C(valueFrom) mapping), or as a
            list of Kubernetes C(EnvVar).
          - For a prepackaged server it is added to the server's container.
        type: raw
      env_from:
        description: C(envFrom) of the container (Secrets or ConfigMaps as environment).
        type: list
        elements: dict
      resources:
        description: Requests and limits of the container (C(requests), C(limits)).
        type: dict
      ports:
        description: Ports of a custom container.
        type: list
        elements: dict
      readiness_probe:
        description:
          - Readiness probe of the container (a Kubernetes probe), or a number of seconds for a long initial
            delay probe on C(/health/ping) that tolerates 100 failures (for slow models).
        type: raw
      liveness_probe:
        description: Liveness probe of the container, in the same forms as O(predictors[].readiness_probe).
        type: raw
      startup_probe:
        description: Startup probe of the container (a Kubernetes probe).
        type: raw
      probe_initial_delay_seconds:
        description:
          - Shortcut for slow models; readiness and liveness probes on C(/health/ping) with this initial delay,
            a 5 second period and 100 failures allowed, unless given explicitly.
        type: int
      volume_mounts:
        description: Volume mounts of the container (Kubernetes C(VolumeMount)).
        type: list
        elements: dict
      pvc_mounts:
        description: PersistentVolumeClaims to mount in the container; the pod volumes are added for you.
        type: list
        elements: dict
        suboptions:
          claim_name:
            description: Name of the claim.
            type: str
            required: true
          mount_path:
            description: Where to mount it.
            type: str
            required: true
          name:
            description: Name of the volume. Defaults to the claim name.
            type: str
          read_only:
            description: Mount read-only.
            type: bool
            default: false
          sub_path:
            description: Sub path of the volume to mount.
            type: str
      container:
        description: Further Kubernetes container fields for the node's container (options above win).
        type: dict
      children:
        description:
          - Child graph nodes (inference graph). Each is a mapping with the node options above (C(name),
            C(type), C(implementation), C(model_uri), C(image), C(env), C(children), ...).
        type: list
        elements: dict
      graph:
        description:
          - The whole graph as one node mapping (with C(children)), instead of the node options on the
            predictor.
        type: dict
      traffic:
        description: Percentage of the requests this predictor serves (canary). Not for shadows.
        type: int
      shadow:
        description: A shadow predictor gets a copy of every request; its answers are discarded.
        type: bool
        default: false
      replicas:
        description: Replicas of the predictor's Deployments, from 0 to 2147483647 (an int32).
        type: int
      labels:
        description: Labels of the predictor (added to its Deployments and Pods).
        type: dict
      annotations:
        description: Annotations of the predictor.
        type: dict
      volumes:
        description: Pod volumes (Kubernetes C(Volume)) of the predictor.
        type: list
        elements: dict
      component_specs:
        description:
          - C(componentSpecs) to start from (escape hatch); the containers built from the nodes are merged into
            the first one by name, fields given here winning.
        type: list
        elements: dict
      pod_service_account_name:
        description: Service account of the predictor's pods.
        type: str
      image_pull_secrets:
        description: Names of image pull Secrets of the pods.
        type: list
        elements: str
      node_selector:
        description: Node selector of the pods.
        type: dict
      tolerations:
        description: Tolerations of the pods.
        type: list
        elements: dict
      engine_resources:
        description: Resources of the service orchestrator container.
        type: dict
      progress_deadline_seconds:
        description:
          - Progress deadline of the predictor's Deployments; when it passes without progress the operator
            sets the state C(Failed).
        type: int
  protocol:
    description:
      - Inference protocol. V(seldon) serves C(/api/v1.0/predictions); V(v2) (alias V(kfserving)) the Open
        Inference Protocol C(/v2/models/<model>/infer). Left to the operator's default (V(seldon)) when unset.
    type: str
    choices: [seldon, v2, kfserving, tensorflow]
  transport:
    description: Transport between the orchestrator and the nodes.
    type: str
    choices: [rest, grpc]
  replicas:
    description: Default replicas of every predictor (C(spec.replicas)), from 0 to 2147483647 (an int32).
    type: int
  labels:
    description: Labels of the SeldonDeployment.
    type: dict
  annotations:
    description: Annotations of the SeldonDeployment (C(metadata.annotations)).
    type: dict
  spec_annotations:
    description: Seldon settings in C(spec.annotations), for example C(seldon.io/rest-timeout).
    type: dict
  render_only:
    description:
      - Only render the manifest (returned as RV(manifest) and RV(yaml)); nothing is sent to the cluster.
    type: bool
    default: false
  dest:
    description:
      - Write the rendered manifest (YAML) to this file instead of applying it; implies O(render_only=true).
      - Reported changed only when the file content changes.
    type: path
  field_manager:
    description: The field manager that owns the applied fields.
    type: str
    default: mlops.k8s
  force_conflicts:
    description: Take ownership of fields owned by another field manager instead of failing on a conflict.
    type: bool
    default: false
  delete_propagation:
    description: How the Deployments and Services of the SeldonDeployment are deleted with O(state=absent).
    type: str
    choices: [Foreground, Background, Orphan]
    default: Foreground
  wait:
    description:
      - Wait until the SeldonDeployment is C(Available) (O(state=present)) or gone (O(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait in total, from 0 to 31622400 (a year).
    type: int
    default: 600
  fail_fast:
    description:
      - While waiting, fail at once when a Pod of the deployment cannot start (C(ErrImagePull),
        C(ImagePullBackOff), C(InvalidImageName), C(CreateContainerConfigError), C(CreateContainerError), or
        C(CrashLoopBackOff) after O(crashloop_restarts) restarts) instead of waiting for the operator's progress
        deadline.
    type: bool
    default: true
  crashloop_restarts:
    description: Restarts of a crash-looping container after which O(fail_fast) gives up, 0 or more.
    type: int
    default: 3
  rollback_on_failure:
    description:
      - When an update of an existing SeldonDeployment does not become C(Available) (the state C(Failed), a Pod that
        cannot start or load its model, or O(wait_timeout)), apply the last spec that was C(Available) again, wait
        for it (up to O(wait_timeout) more), and fail with the cause of the failed update and whether the rollback
        serves again. Only with O(wait=true); check mode and rendering are unaffected.
      - The last C(Available) spec is the live one when the update starts on an C(Available) object, else the one
        kept in the C(mlops.k8s/last-available-spec) annotation, which every successful wait writes (field manager
        C(mlops.k8s-rollback)). It lives on the object, so a playbook interrupted during a failed update rolls back
        on its next run.
      - A create has nothing to return to; an update of an object that was never seen C(Available) neither.
    type: bool
    default: true
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description:
      - The apply or delete is sent with C(dryRun=All), so the API server (and the Seldon admission webhook)
        validates it; nothing is waited for.
      - When the SeldonDeployment CRD is not installed, check mode reports the deployment as to be created with a
        warning that it could not be validated.
    support: full
  diff_mode:
    description: Shows the SeldonDeployment before and after (or the old and new file content with O(dest)).
    support: full
notes:
  - Seldon Core v1 writes no C(observedGeneration) in its status. After a change the module waits for the
    status to change (the operator goes through C(Creating)) or for C(status.observedGeneration) to reach the
    applied generation when the operator sets it; if neither happens within 10 seconds while the state is
    C(Available), it accepts the state once every predictor Deployment has observed its latest generation and
    rolled out.
  - The in-cluster endpoints use the orchestrator ports of Seldon Core 1.18 (8000 HTTP, 5001 gRPC).
seealso:
  - module: mlops.k8s.model_predict
  - module: mlops.k8s.apply
  - name: SeldonDeployment reference
    description: Seldon Core v1 documentation of the SeldonDeployment resource.
    link: https://docs.seldon.io/projects/seldon-core/en/latest/reference/seldon-deployment.html
"""

EXAMPLES = r"""
- name: Serve an sklearn model from S3 and wait until it is Available
  mlops.k8s.seldon_deployment:
    name: iris
    namespace: models
    predictors:
      - name: default
        implementation: SKLEARN_SERVER
        model_uri: s3://models/iris/v1
        env_secret_ref_name: seldon-init-container-secret
        replicas: 1
  register: iris

- name: Show where it answers
  ansible.builtin.debug:
    msg: "{{ iris.endpoints.gateway_path }} / {{ iris.endpoints.cluster.default.http }}"

- name: Update to model v2; if v2 does not become Available, v1 is applied again and the task fails saying so
  mlops.k8s.seldon_deployment:
    name: iris
    namespace: models
    predictors:
      - name: default
        implementation: SKLEARN_SERVER
        model_uri: s3://models/iris/v2
        env_secret_ref_name: seldon-init-container-secret
    rollback_on_failure: true  # the default
  register: update
  ignore_errors: true

- name: Say what happened to the update
  ansible.builtin.debug:
    msg: "{{ 'rolled back: ' ~ update.msg if update.rolled_back | default(false) else 'v2 serves' }}"

- name: A custom image with environment, a mounted PVC and long probes for a slow model
  mlops.k8s.seldon_deployment:
    name: transformer
    namespace: models
    predictors:
      - name: default
        model_name: transformer
        image: registry.example.com/transformer:1.0
        env:
          MODEL_LOCATION: /mnt/parameters/gpt2
        pvc_mounts:
          - claim_name: model-parameters-pvc
            mount_path: /mnt/parameters
        probe_initial_delay_seconds: 60
        labels:
          version: v1

- name: Canary, 75/25, plus a shadow that gets a copy of every request
  mlops.k8s.seldon_deployment:
    name: iris
    namespace: models
    predictors:
      - name: main
        implementation: SKLEARN_SERVER
        model_uri: s3://models/iris/v1
        env_secret_ref_name: seldon-init-container-secret
        traffic: 75
      - name: canary
        implementation: SKLEARN_SERVER
        model_uri: s3://models/iris/v2
        env_secret_ref_name: seldon-init-container-secret
        traffic: 25
      - name: shadow
        implementation: XGBOOST_SERVER
        model_uri: s3://models/iris-xgb/v1
        env_secret_ref_name: seldon-init-container-secret
        shadow: true

- name: V2 protocol with an input transformer in front of the model
  mlops.k8s.seldon_deployment:
    name: iris-v2
    namespace: models
    protocol: v2
    predictors:
      - name: default
        graph:
          name: preprocess
          type: TRANSFORMER
          image: registry.example.com/iris-preprocess:1.0
          children:
            - name: classifier
              implementation: SKLEARN_SERVER
              model_uri: s3://models/iris/v1
              env_secret_ref_name: seldon-init-container-secret

- name: Render the manifest for GitOps instead of applying it
  mlops.k8s.seldon_deployment:
    name: iris
    predictors:
      - implementation: SKLEARN_SERVER
        model_uri: s3://models/iris/v1
    dest: gitops/models/iris.yaml

- name: Apply a full definition
  mlops.k8s.seldon_deployment:
    definition: "{{ lookup('ansible.builtin.file', 'iris-sdep.yaml') }}"
    namespace: models

- name: Remove it and wait until it is gone
  mlops.k8s.seldon_deployment:
    name: iris
    namespace: models
    state: absent
"""

RETURN = r"""
action:
  description: What happened (or would happen in check mode).
  returned: always
  type: str
  sample: created
  choices: [created, configured, unchanged, deleted, absent, rendered]
resource:
  description: The SeldonDeployment as the API server returned it (after the wait), without C(managedFields).
  returned: when O(state=present) and not rendering
  type: dict
state:
  description: C(status.state) of the SeldonDeployment (C(Creating), C(Available), C(Failed)), or null.
  returned: when O(state=present) and not rendering
  type: str
  sample: Available
endpoints:
  description: Where the deployment answers.
  returned: when O(state=present)
  type: dict
  contains:
    cluster:
      description: Per predictor, the in-cluster URLs of its orchestrator Service (C(http), C(grpc)) and C(shadow).
      type: dict
      sample: {"default": {"http": "http://iris-default.models.svc.cluster.local:8000",
                           "grpc": "iris-default.models.svc.cluster.local:5001", "shadow": false}}
    gateway_path:
      description: Path of the prediction endpoint behind the ingress gateway.
      type: str
      sample: /seldon/models/iris/api/v1.0/predictions
    protocol:
      description: The protocol the paths are for.
      type: str
      sample: seldon
    model_name:
      description: Name of the root node of the first serving predictor (the V2 model name).
      type: str
      sample: classifier
    address:
      description: C(status.address.url) when the operator reports one.
      type: str
      returned: when reported
waited:
  description: Seconds spent waiting.
  returned: when O(wait=true) and not in check mode
  type: float
  sample: 12.5
rolled_back:
  description: Whether the failed update was rolled back to the last C(Available) spec (see O(rollback_on_failure)).
  returned: on failure of the wait
  type: bool
  sample: true
rollback_error:
  description: Why the rolled back spec did not become C(Available) either.
  returned: when the rollback failed too
  type: str
manifest:
  description: The rendered SeldonDeployment.
  returned: when rendering
  type: dict
yaml:
  description: The rendered SeldonDeployment as YAML.
  returned: when rendering
  type: str
dest:
  description: The file written.
  returned: when O(dest) is given
  type: str
explanation:
  description:
    - Why the deployment is not Available (on failure only); C(summary) is the same text as the message.
  returned: on failure of the wait
  type: dict
  contains:
    summary:
      description: One paragraph.
      type: str
    components:
      description: Per predictor Deployment, its issues and its Pods' issues.
      type: list
      elements: dict
    events:
      description: Recent Warning events of the SeldonDeployment, its Deployments, ReplicaSets and Pods.
      type: list
      elements: str
    fatal:
      description: The Pod problem that made the wait give up early, if any.
      type: str
"""

import os
import tempfile

from ansible_collections.mlops.k8s.plugins.module_utils import limits, names, rollback, seldon
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, describe_shape
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import (
    Manifest,
    default_namespace,
    load_manifests,
    validate_manifest,
)
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import apply_manifest, delete_manifest, public_object

NODE_OPTIONS = {
    "implementation": {"type": "str"},
    "model_uri": {"type": "str"},
    "env_secret_ref_name": {"type": "str"},
    "storage_initializer_image": {"type": "str"},
    "service_account_name": {"type": "str"},
    "parameters": {"type": "raw"},
    "type": {"type": "str", "default": "MODEL", "choices": list(seldon.NODE_TYPES)},
    "methods": {"type": "list", "elements": "str"},
    "endpoint_type": {"type": "str", "choices": ["REST", "GRPC"]},
    "logger": {"type": "dict"},
    "image": {"type": "str"},
    "image_pull_policy": {"type": "str", "choices": ["Always", "IfNotPresent", "Never"]},
    "command": {"type": "list", "elements": "str"},
    "args": {"type": "list", "elements": "str"},
    "env": {"type": "raw"},
    "env_from": {"type": "list", "elements": "dict"},
    "resources": {"type": "dict"},
    "ports": {"type": "list", "elements": "dict"},
    "readiness_probe": {"type": "raw"},
    "liveness_probe": {"type": "raw"},
    "startup_probe": {"type": "raw"},
    "probe_initial_delay_seconds": {"type": "int"},
    "volume_mounts": {"type": "list", "elements": "dict"},
    "pvc_mounts": {"type": "list", "elements": "dict", "options": {
        "claim_name": {"type": "str", "required": True},
        "mount_path": {"type": "str", "required": True},
        "name": {"type": "str"},
        "read_only": {"type": "bool", "default": False},
        "sub_path": {"type": "str"},
    }},
    "container": {"type": "dict"},
    "children": {"type": "list", "elements": "dict"},
}

PREDICTOR_OPTIONS = dict(NODE_OPTIONS, **{
    "name": {"type": "str", "default": "default"},
    "model_name": {"type": "str", "default": "classifier"},
    "graph": {"type": "dict"},
    "traffic": {"type": "int"},
    "shadow": {"type": "bool", "default": False},
    "replicas": {"type": "int"},
    "labels": {"type": "dict"},
    "annotations": {"type": "dict"},
    "volumes": {"type": "list", "elements": "dict"},
    "component_specs": {"type": "list", "elements": "dict"},
    "pod_service_account_name": {"type": "str"},
    "image_pull_secrets": {"type": "list", "elements": "str", "no_log": False},  # names of Secrets, not secrets
    "node_selector": {"type": "dict"},
    "tolerations": {"type": "list", "elements": "dict"},
    "engine_resources": {"type": "dict"},
    "progress_deadline_seconds": {"type": "int"},
})


def argument_spec():
    return {
        "name": {"type": "str"},
        "namespace": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "definition": {"type": "raw"},
        "predictors": {"type": "list", "elements": "dict", "options": PREDICTOR_OPTIONS},
        "protocol": {"type": "str", "choices": ["seldon", "v2", "kfserving", "tensorflow"]},
        "transport": {"type": "str", "choices": ["rest", "grpc"]},
        "replicas": {"type": "int"},
        "labels": {"type": "dict"},
        "annotations": {"type": "dict"},
        "spec_annotations": {"type": "dict"},
        "render_only": {"type": "bool", "default": False},
        "dest": {"type": "path"},
        "field_manager": {"type": "str", "default": "mlops.k8s"},
        "force_conflicts": {"type": "bool", "default": False},
        "delete_propagation": {
            "type": "str", "default": "Foreground", "choices": ["Foreground", "Background", "Orphan"],
        },
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 600},
        "fail_fast": {"type": "bool", "default": True},
        "crashloop_restarts": {"type": "int", "default": 3},
        "rollback_on_failure": {"type": "bool", "default": True},
    }


def _clean_predictor(pred):
    """Drop what Ansible filled in for the graph's root when the whole graph is given."""
    if pred.get("graph") is not None and pred.get("type") == "MODEL":
        pred = dict(pred, type=None)
    return pred


def desired_object(params):
    """The SeldonDeployment to apply or render, from a definition or from the friendly options."""
    if params["definition"] is not None:
        manifests = load_manifests(params["definition"])
        if len(manifests) != 1:
            raise K8sError("definition must hold exactly one SeldonDeployment (got %d objects)" % len(manifests))
        obj = manifests[0].obj
        if obj.get("kind") == seldon.KIND:
            seldon.check_metadata(obj)  # a mapping, before the options are merged into it
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise K8sError("definition: metadata must be a mapping, got %s" % describe_shape(meta))
        if params["name"]:
            meta["name"] = params["name"]
        if params["namespace"]:
            meta["namespace"] = params["namespace"]
        if not meta.get("name"):
            raise K8sError("name is required (the definition has no metadata.name)")
        for key in ("labels", "annotations"):
            if params[key]:
                meta.setdefault(key, {}).update(params[key])
        return seldon.validate_sdep(obj)
    return seldon.build_sdep(
        params["name"], [_clean_predictor(p) for p in params["predictors"] or []], namespace=params["namespace"],
        protocol=params["protocol"], labels=params["labels"], annotations=params["annotations"],
        spec_annotations=params["spec_annotations"], replicas=params["replicas"], transport=params["transport"])


def render(module, obj):
    import yaml

    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    result = {"changed": False, "action": "rendered", "manifest": obj, "yaml": text,
              "endpoints": seldon.endpoints(obj)}
    dest = module.params["dest"]
    if not dest:
        return result
    result["dest"] = dest
    before = None
    if os.path.exists(dest):
        try:
            with open(dest, encoding="utf-8") as handle:
                before = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise K8sError("dest: cannot read %s: %s" % (dest, exc)) from None
    result["changed"] = before != text
    if module.diff_mode:
        result["diff"] = {"before": before or "", "after": text, "before_header": dest, "after_header": dest}
    if result["changed"] and not module.check_mode:
        directory = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(directory):
            raise K8sError("dest: directory %s does not exist" % directory)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sdep-", suffix=".yaml")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        module.atomic_move(tmp, dest)
    return result


def crd_missing_message():
    return ("the SeldonDeployment CRD (%s, kind %s) is not installed on this cluster: install Seldon Core first "
            "(for example with the mlops.k8s.seldon_core role)" % (seldon.API_VERSION, seldon.KIND))


def present(module, obj):
    params = module.params
    client = module.client
    resource = client.find_resource(seldon.API_VERSION, seldon.KIND)
    if resource is None:
        if module.check_mode:
            module.warn(crd_missing_message() + "; check mode could not validate the SeldonDeployment")
            obj.setdefault("metadata", {}).setdefault("namespace", "default")
            return {"changed": True, "action": "created", "resource": obj, "state": None,
                    "endpoints": seldon.endpoints(obj), "msg": crd_missing_message()}
        raise K8sError(crd_missing_message(), status=404)
    manifest = validate_manifest(Manifest(obj, "definition" if params["definition"] else "predictors"))
    manifest.resource = resource
    default_namespace(manifest, params["namespace"])
    live = client.get(resource, manifest.name, manifest.namespace)
    previous = None
    if params["rollback_on_failure"] and not module.check_mode:
        previous = rollback.last_good(live, seldon.status_check(live)[0] if live else False)
    result = apply_manifest(client, manifest, check_mode=module.check_mode,
                            field_manager=params["field_manager"], force_conflicts=params["force_conflicts"],
                            want_diff=module.diff_mode, live=live)
    applied = result["object"] or obj
    out = {"changed": result["changed"], "action": result["action"], "resource": applied,
           "state": seldon.state_of(applied), "endpoints": seldon.endpoints(applied)}
    if result.get("diff") is not None:
        out["diff"] = result["diff"]
    if params["wait"] and not module.check_mode:
        generation = ((live or {}).get("metadata") or {}).get("generation")
        spec_changed = live is None or generation != (applied.get("metadata") or {}).get("generation")
        try:
            outcome = wait(module, manifest.name, manifest.namespace, applied, spec_changed)
        except seldon.SeldonError as err:
            failed = public_object(err.object) if err.object else applied
            details = {"reason": err.reason, "explanation": err.explanation, "changed": out["changed"],
                       "action": out["action"], "resource": failed, "state": seldon.state_of(failed),
                       "endpoints": out["endpoints"], "rolled_back": False}
            if previous is not None and spec_changed and previous != applied.get("spec"):
                roll_back(module, resource, manifest, previous, err, details)
            module.fail_json(msg=err.msg, **details)
        note = rollback.record(client, resource, outcome.object, manifest.obj.get("spec") or {})
        if note:
            module.warn("the last Available spec is not kept for rollback: " + note)
        out["resource"] = public_object(outcome.object)
        out["state"] = seldon.state_of(outcome.object)
        out["endpoints"] = seldon.endpoints(outcome.object)
        out["waited"] = round(outcome.elapsed, 3)
    return out


def wait(module, name, namespace, applied, spec_changed):
    params = module.params
    return seldon.wait_available(module.client, name, namespace, applied=applied, spec_changed=spec_changed,
                                 timeout=params["wait_timeout"], fail_fast=params["fail_fast"],
                                 crashloop_restarts=params["crashloop_restarts"])


def roll_back(module, resource, manifest, previous, err, details):
    """The update did not become Available: apply the last Available spec again, wait for it and fail either way,
    saying what failed and whether the rollback serves again."""
    params = module.params
    body = rollback.restore_body(manifest.obj, previous)
    restored = module.client.apply(resource, body, field_manager=params["field_manager"],
                                   force_conflicts=params["force_conflicts"])
    details.update(changed=True, rolled_back=True, resource=public_object(restored),
                   state=seldon.state_of(restored))
    try:
        outcome = wait(module, manifest.name, manifest.namespace, restored, True)
    except seldon.SeldonError as again:
        module.fail_json(msg="%s; rolled back to the last Available spec, which did not become Available either: %s"
                         % (err.msg, again.msg), rollback_error=again.msg, **details)
    details.update(resource=public_object(outcome.object), state=seldon.state_of(outcome.object),
                   endpoints=seldon.endpoints(outcome.object))
    module.fail_json(msg="%s; rolled back to the last Available spec, which is Available again" % err.msg,
                     **details)


def absent(module):
    params = module.params
    client = module.client
    name = params["name"]
    namespace = params["namespace"]
    if params["definition"] is not None:
        obj = desired_object(params)
        name = obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace") or namespace
    if not name:
        raise K8sError("name is required to delete a SeldonDeployment")
    resource = client.find_resource(seldon.API_VERSION, seldon.KIND)
    manifest = Manifest({"apiVersion": seldon.API_VERSION, "kind": seldon.KIND,
                         "metadata": {"name": name, "namespace": namespace or "default"}}, "name")
    manifest.resource = resource
    result = delete_manifest(client, manifest, check_mode=module.check_mode,
                             propagation_policy=params["delete_propagation"], want_diff=module.diff_mode,
                             wait=params["wait"], wait_timeout=params["wait_timeout"])
    out = {"changed": result["changed"], "action": result["action"]}
    if result.get("note"):
        out["msg"] = result["note"]
    if result.get("diff") is not None:
        out["diff"] = result["diff"]
    return out


def check_options(params):
    """The options that become URL path segments or API numbers, before anything is sent."""
    if params["name"]:
        names.check_label(params["name"], "name", seldon.MAX_NAME)
    if params["namespace"]:
        names.check_label(params["namespace"], "namespace")
    limits.check_int(params["crashloop_restarts"], "crashloop_restarts")


def run(module):
    params = module.params
    check_options(params)
    if params["state"] == "absent":
        return absent(module)
    obj = desired_object(params)
    if params["render_only"] or params["dest"]:
        return render(module, obj)
    return present(module, obj)


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        requires_yaml=True,
        mutually_exclusive=[("definition", "predictors")],
        required_if=[("state", "present", ("predictors", "definition"), True)],
        required_one_of=[("name", "definition")],
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
