#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: model_predict
short_description: Send a prediction request to a Seldon deployment and check the answer
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Sends one prediction request to a SeldonDeployment, through the ingress gateway (path
    C(/seldon/<namespace>/<name>/api/v1.0/predictions), or C(/seldon/<namespace>/<name>/v2/models/<model>/infer)
    for the V2 protocol) or directly to a predictor's Service, and returns the parsed answer.
  - Builds the Seldon protocol payload (C(data.ndarray) with C(data.names), C(strData) or C(jsonData)) or the V2
    payload (C(inputs) with C(name), C(shape), C(datatype), C(data); shape and datatype are inferred when missing).
  - Retries with a bounded exponential backoff (0.5 s doubling up to 5 s) while the route warms up
    (connection refused, request timeouts, HTTP 404/502/503/504 from the gateway) until O(timeout) seconds
    have passed. Other HTTP errors fail at once with the server's answer.
  - O(expected) and O(expected_contains) let a playbook assert on the answer; the task fails when they do not hold.
  - Redirects are never followed (they would send the payload, O(bearer_token) and O(headers) to another host and
    turn the POST into a GET); an HTTP 3xx answer fails the task with the C(Location) it names. Give the final URL.
options:
  url:
    description:
      - Base URL of the ingress gateway (for example C(http://ambassador.example.com)), or with
        O(target=service) of the predictor's Service (for example C(http://iris-default.models:8000)).
      - Defaults to the E(MLOPS_K8S_GATEWAY_URL) environment variable.
      - Only C(http://) and C(https://) URLs with a host are accepted (no C(file://), C(ftp://), ...).
    type: str
  target:
    description:
      - V(gateway) prefixes the path with C(/seldon/<namespace>/<name>); V(service) sends to the Service's own
        path (C(/api/v1.0/predictions) or C(/v2/models/<model>/infer)).
    type: str
    choices: [gateway, service]
    default: gateway
  name:
    description:
      - Name of the SeldonDeployment. Required with O(target=gateway) unless O(path) is given.
      - Lower case letters, digits and C(-), starting and ending with a letter or digit (it becomes part of the
        path); checked before any request.
    type: str
  namespace:
    description: Namespace of the SeldonDeployment, a DNS-1123 label (it becomes part of the path).
    type: str
    default: default
  protocol:
    description: V(seldon) or V(v2) (V(kfserving) is an alias of V(v2)).
    type: str
    choices: [seldon, v2, kfserving]
    default: seldon
  model_name:
    description:
      - Model name of the V2 path (the graph node name, C(classifier) for deployments built by
        M(mlops.k8s.seldon_deployment) without O(mlops.k8s.seldon_deployment#module:predictors[].model_name)).
      - Required with O(protocol=v2) unless O(path) is given.
      - It becomes a segment of the path, so it may not hold C(/), C(%), C(?), C(#) or white space, nor be C(..).
    type: str
  path:
    description:
      - The path to send to, instead of the one built from O(target), O(name), O(namespace), O(protocol) and
        O(model_name); for example RV(mlops.k8s.seldon_deployment#module:endpoints.gateway_path).
    type: str
  data:
    description:
      - Seldon protocol, the input as a (nested) list, sent as C(data.ndarray).
      - V2 protocol, a nested list sent as one tensor named C(input-0) when O(inputs) is not given.
    type: raw
  names:
    description: Feature names, sent as C(data.names) (Seldon protocol).
    type: list
    elements: str
  str_data:
    description: A string input, sent as C(strData) (Seldon protocol).
    type: str
  json_data:
    description: Any JSON input, sent as C(jsonData) (Seldon protocol).
    type: raw
  inputs:
    description:
      - V2 protocol input tensors, each with C(name), C(data) and optionally C(shape) (default the shape of
        C(data)) and C(datatype) (default C(INT64), C(FP64), C(BOOL) or C(BYTES) from the values).
      - Nested C(data) is flattened row-major as the protocol requires.
    type: list
    elements: dict
  payload:
    description: The whole request body, sent as is (overrides the options above).
    type: raw
  headers:
    description: Extra HTTP headers.
    type: dict
  bearer_token:
    description: "Sent as C(Authorization: Bearer <token>)."
    type: str
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to keep retrying while the route warms up (0 sends once); 0 or more.
    type: int
    default: 60
  request_timeout:
    description: Seconds to wait for one answer, 1 or more.
    type: int
    default: 30
  retry_statuses:
    description: HTTP statuses that mean "not ready yet" and are retried.
    type: list
    elements: int
    default: [404, 502, 503, 504]
  expected:
    description:
      - A mapping of path to value that the answer must have (equality). A path is dotted with C([n]) indexes,
        for example C(data.names) or C(outputs[0].datatype).
      - Two special keys, V(shape) and V(output), are the shape and the values of the main output
        (C(data.ndarray) or C(data.tensor) in the Seldon protocol, C(outputs[0]) in V2).
    type: dict
  expected_contains:
    description:
      - A mapping of path (as in O(expected)) to a value the answer must contain; a string contains a substring,
        a list contains an item (or every item of a list), a mapping contains a sub-mapping.
    type: dict
attributes:
  check_mode:
    description:
      - "A prediction changes nothing, so the request is sent in check mode too and the answer returned. Use
        C(when: not ansible_check_mode) on the task to skip a costly request."
    support: full
  diff_mode:
    description: Nothing to show; a prediction changes nothing.
    support: none
notes:
  - Uses C(ansible.module_utils.urls); no Kubernetes client is needed.
seealso:
  - module: mlops.k8s.seldon_deployment
"""

EXAMPLES = r"""
- name: Predict through the gateway (Seldon protocol) and check the shape of the probabilities
  mlops.k8s.model_predict:
    url: http://ambassador.example.com
    name: iris
    namespace: models
    data: [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3], [5.9, 3.0, 4.2, 1.5]]
    names: [sepal_length, sepal_width, petal_length, petal_width]
    expected:
      shape: [3, 3]
  register: prediction

- name: The same model with the V2 protocol
  mlops.k8s.model_predict:
    name: iris-v2
    namespace: models
    protocol: v2
    model_name: classifier
    inputs:
      - name: predict
        data: [[5.1, 3.5, 1.4, 0.2]]
        datatype: FP32
    expected:
      outputs[0].shape: [1, 3]

- name: Straight to a predictor's Service from inside the cluster, with a path from seldon_deployment
  mlops.k8s.model_predict:
    url: "{{ iris.endpoints.cluster.default.http }}"
    target: service
    str_data: "What are we going to do?"
    expected_contains:
      strData: "What are we going to do?"
"""

RETURN = r"""
json:
  description: The answer, parsed (null when it is not JSON).
  returned: success
  type: raw
  sample: {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.9, 0.1, 0.0]]}, "meta": {}}
body:
  description: The answer as text when it is not JSON.
  returned: when the answer is not JSON
  type: str
status:
  description: HTTP status of the last answer.
  returned: always
  type: int
  sample: 200
output:
  description: The main output (C(data.ndarray), C(data.tensor.values), C(strData), C(jsonData) or C(outputs[0].data)).
  returned: success
  type: raw
shape:
  description: Shape of the main output.
  returned: success
  type: list
  elements: int
  sample: [3, 3]
elapsed:
  description: Seconds from the first attempt to the answer.
  returned: always
  type: float
attempts:
  description: How many requests were sent.
  returned: always
  type: int
url:
  description: The URL the request was sent to.
  returned: always
  type: str
  sample: http://ambassador.example.com/seldon/models/iris/api/v1.0/predictions
request:
  description: The request body that was sent.
  returned: always
  type: raw
mismatches:
  description: What did not match O(expected) or O(expected_contains).
  returned: when they do not hold
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.urls import open_url
from ansible_collections.mlops.k8s.plugins.module_utils import predict


def argument_spec():
    return {
        "url": {"type": "str", "fallback": (env_fallback, [predict.GATEWAY_ENV])},
        "target": {"type": "str", "default": "gateway", "choices": ["gateway", "service"]},
        "name": {"type": "str"},
        "namespace": {"type": "str", "default": "default"},
        "protocol": {"type": "str", "default": "seldon", "choices": ["seldon", "v2", "kfserving"]},
        "model_name": {"type": "str"},
        "path": {"type": "str"},
        "data": {"type": "raw"},
        "names": {"type": "list", "elements": "str"},
        "str_data": {"type": "str"},
        "json_data": {"type": "raw"},
        "inputs": {"type": "list", "elements": "dict"},
        "payload": {"type": "raw"},
        "headers": {"type": "dict"},
        "bearer_token": {"type": "str", "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 60},
        "request_timeout": {"type": "int", "default": 30},
        "retry_statuses": {"type": "list", "elements": "int", "default": [404, 502, 503, 504]},
        "expected": {"type": "dict"},
        "expected_contains": {"type": "dict"},
    }


def run(params, opener=open_url):
    """The module's work, without AnsibleModule: returns (failed, result)."""
    protocol = params["protocol"]
    predict.check_timeouts(params["timeout"], params["request_timeout"])
    if predict.is_v2(protocol) and not params["model_name"] and not params["path"]:
        raise predict.PredictError("model_name is required with protocol v2 (the graph node name, for example "
                                   "classifier), or give path")
    body = predict.build_payload(protocol, data=params["data"], names=params["names"], str_data=params["str_data"],
                                 json_data=params["json_data"], inputs=params["inputs"], payload=params["payload"])
    url = predict.predict_url(params["url"], params["name"], params["namespace"], protocol=protocol,
                              model_name=params["model_name"], path=params["path"], target=params["target"])
    headers = dict(params["headers"] or {})
    if params["bearer_token"]:
        headers["Authorization"] = "Bearer %s" % params["bearer_token"]
    answer = predict.send(url, body, opener=opener, headers=headers, timeout=params["timeout"],
                          request_timeout=params["request_timeout"], validate_certs=params["validate_certs"],
                          retry_statuses=tuple(params["retry_statuses"] or ()))
    answer["request"] = body
    parsed = answer["json"]
    if parsed is not None:
        answer.pop("body", None)
    output, shape = predict.main_output(parsed, protocol)
    answer["output"] = output
    answer["shape"] = shape
    answer["changed"] = False
    mismatches = predict.check_expected(parsed, params["expected"], params["expected_contains"], protocol)
    if mismatches:
        answer["mismatches"] = mismatches
        answer["msg"] = "the answer from %s does not match: %s" % (url, "; ".join(mismatches))
        return True, answer
    return False, answer


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("payload", "data"), ("payload", "inputs"),
                                               ("payload", "str_data"), ("payload", "json_data")])
    try:
        failed, result = run(module.params)
    except predict.PredictError as err:
        module.fail_json(msg=err.msg, changed=False, **err.result)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
