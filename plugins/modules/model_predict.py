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
  - Sends a prediction request to a SeldonDeployment, through the ingress gateway (path
    C(/seldon/<namespace>/<name>/api/v1.0/predictions), or C(/seldon/<namespace>/<name>/v2/models/<model>/infer)
    for the V2 protocol), directly to a predictor's Service, or to that Service through the Kubernetes API
    server's service proxy (O(target=service_proxy)), and returns the parsed answer.
  - Builds the Seldon protocol payload (C(data.ndarray) with C(data.names), C(strData) or C(jsonData)) or the V2
    payload (C(inputs) with C(name), C(shape), C(datatype), C(data); shape and datatype are inferred when missing).
  - Retries with a bounded exponential backoff (0.5 s doubling up to 5 s) while the route warms up
    (connection refused, request timeouts, HTTP 404/502/503/504 from the gateway) until O(timeout) seconds
    have passed. Other HTTP errors fail at once with the server's answer.
  - O(expected) and O(expected_contains) let a playbook assert on the answer; the task fails when they do not hold.
  - "With O(count), a batch: after that first answer, O(count) more requests are sent, each once (no retry), from
    O(concurrency) threads over keep-alive connections, at most O(rate) per second. The task returns the latency
    distribution, the errors by HTTP status and, for the Seldon protocol, how many answers each predictor gave (from
    the answers' C(meta.requestPath), see O(predictors)); O(expect) fails the task with the numbers when the split,
    the error rate or a latency percentile is off."
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
        path (C(/api/v1.0/predictions) or C(/v2/models/<model>/infer)) at O(url).
      - V(service_proxy) sends to the predictor's Service through the Kubernetes API server, at
        C(/api/v1/namespaces/<namespace>/services/<service>:<service_port>/proxy/api/v1.0/predictions) (the path
        C(kubectl proxy) serves), with the connection options below (O(kubeconfig), O(context), O(host),
        O(api_key), ... and their C(K8S_AUTH_*) variables), so no gateway and no network path to the cluster other
        than the API server is needed. O(url) is not used. The credentials need the verb C(create) on
        C(services/proxy) in the namespace (C(get) is not enough for a POST). Without O(service), the
        SeldonDeployment O(name) is read (C(get) on C(seldondeployments)) to name the Service of O(predictor) as
        the Seldon operator does (C(<name>-<predictor>), or the predictor's C(seldon.io/svc-name) annotation).
      - V(service_proxy) reaches one predictor; a split between predictors is measured through the gateway.
    type: str
    choices: [gateway, service, service_proxy]
    default: gateway
    aliases: [via]
  predictor:
    description:
      - With O(target=service_proxy), the predictor whose Service is called; default the first predictor that is
        not a shadow.
    type: str
  service:
    description:
      - With O(target=service_proxy), the name of the Service to call, instead of the predictor's Service of the
        SeldonDeployment O(name) (then the SeldonDeployment is not read).
    type: str
  service_port:
    description:
      - With O(target=service_proxy), the Service port, by name or number. The Seldon operator names the
        executor's REST port of a predictor's Service V(http) (8000).
    type: str
    default: http
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
    description:
      - "Sent as C(Authorization: Bearer <token>)."
      - Not with O(target=service_proxy), whose requests carry the Kubernetes credentials.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of O(url) (V(verify_ssl) is an alias, as in the connection options).
      - With O(target=service_proxy) the API server's certificate is verified as the kubeconfig (or
        E(K8S_AUTH_VALIDATE_CERTS)) says.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to keep retrying while the route warms up (0 sends once); 0 or more.
      - In a batch, only the first request is retried; the O(count) requests of the batch are sent once each.
    type: int
    default: 60
  request_timeout:
    description:
      - Seconds to wait for one answer, 1 or more (also for each request of a batch).
      - With O(target=service_proxy) it is also the timeout of the request that reads the SeldonDeployment.
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
      - In a batch, O(expected) and O(expected_contains) are checked on the first answer.
    type: dict
  count:
    description:
      - Send a batch of this many requests (1 to 1000000) after the first answer, and return their statistics
        (RV(latency_ms), RV(errors_by_status), RV(predictors), ...). Without it, one request, as before.
    type: int
  concurrency:
    description:
      - Requests of a batch in flight at once (1 to 256), one thread and one keep-alive connection each.
    type: int
    default: 10
  rate:
    description:
      - At most this many requests per second in a batch (over all threads); no limit when not set.
    type: float
  predictors:
    description:
      - Names for the predictors of a batch's answers, as counted in RV(predictors) and compared in
        C(split) of O(expect). Each maps a predictor name to what its answers carry in C(meta.requestPath), as a graph
        node name, an image, or C(node=image); several, comma separated, must all be there. The first that matches
        names the answer.
      - "Seldon Core v1's model servers list in C(meta.requestPath) each graph node that answered and its image,
        for example C({\"classifier\": \"seldonio/sklearnserver:1.18.2\"})."
      - Without it, answers are counted by their C(meta.requestPath) as text (C(classifier=seldonio/...)). Answers
        without C(meta.requestPath) (the V2 protocol) and answers that match none are counted as V(unknown).
      - Two predictors that run the same image under the same graph node name answer alike; give the canary
        its own graph node name (M(mlops.k8s.seldon_deployment)'s
        O(mlops.k8s.seldon_deployment#module:predictors[].model_name)) or another image to tell them apart.
    type: dict
  expect:
    description:
      - Bounds on a batch; the task fails, with the numbers, when one does not hold.
      - C(split), a mapping of predictor name (see O(predictors)) to the percentage of the successful answers it
        should give; C(tolerance), the percentage points a share may be off (default 5). A predictor that answers
        more than C(tolerance) percent and is not in C(split) also fails the task.
      - C(max_error_rate), a fraction from 0 to 1 of the requests that may fail (no HTTP answer, or a status other
        than 2xx).
      - C(max_p50_ms), C(max_p95_ms), C(max_p99_ms), bounds on the latency percentiles in milliseconds.
      - C(min_succeeded), the least number of successful answers.
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
  - One request uses C(ansible.module_utils.urls); no Kubernetes client is needed except with
    O(target=service_proxy).
  - A batch sent to O(url) needs C(urllib3) (it comes with the C(kubernetes) client and with botocore); its
    connections honour the proxy of the environment (C(https_proxy), C(no_proxy)) as a single request does. A
    batch through O(target=service_proxy) uses the task's Kubernetes connection.
  - The module is not in the C(group/mlops.k8s.k8s) action group, as its O(validate_certs) and O(request_timeout)
    are about the model's URL, not the API server. Give the connection options on the task, or through the
    C(K8S_AUTH_*) variables and the kubeconfig (E(KUBECONFIG)).
  - The latency of a request is measured from the start of its request to the end of its answer, in the
    module's process on the Ansible controller; percentiles are nearest-rank.
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
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

- name: Smoke test through the API server's service proxy (no gateway), with the kubeconfig's credentials
  mlops.k8s.model_predict:
    via: service_proxy
    kubeconfig: ~/.kube/config
    name: iris
    namespace: models
    predictor: canary
    data: [[5.1, 3.5, 1.4, 0.2]]
    expected:
      shape: [1, 3]

- name: Measure a 25 % canary with 1000 requests, 10 at a time; fail when the split or the latency is off
  mlops.k8s.model_predict:
    name: iris
    namespace: models
    data: [[5.1, 3.5, 1.4, 0.2]]
    count: 1000
    concurrency: 10
    predictors:
      main: classifier
      canary: classifier-canary
    expect:
      split: {main: 75, canary: 25}
      tolerance: 5
      max_error_rate: 0.01
      max_p99_ms: 500
  register: load

- name: Show what was measured
  ansible.builtin.debug:
    msg: >-
      {{ load.predictors }} in {{ load.elapsed }} s;
      p50 {{ load.latency_ms.p50 }} ms, p99 {{ load.latency_ms.p99 }} ms
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
  description:
    - Seconds from the first attempt to the answer.
    - With O(count), seconds the batch took (after the first answer).
  returned: always
  type: float
attempts:
  description: How many requests were sent.
  returned: without O(count) (with it, see RV(warmup_attempts) and RV(count))
  type: int
url:
  description: The URL the request was sent to (with O(target=service_proxy), the API server's proxy URL).
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
count:
  description: Requests sent in the batch (O(count); the first request, which waits for the route, is not one).
  returned: with O(count)
  type: int
  sample: 1000
concurrency:
  description: Threads (and keep-alive connections) the batch used.
  returned: with O(count)
  type: int
  sample: 10
succeeded:
  description: Requests of the batch answered with a 2xx status.
  returned: with O(count)
  type: int
  sample: 1000
failed:
  description: Requests of the batch that got no answer or a status other than 2xx.
  returned: with O(count)
  type: int
  sample: 0
error_rate:
  description: RV(failed) / RV(count).
  returned: with O(count)
  type: float
  sample: 0.0
errors_by_status:
  description: Failed requests by HTTP status (as text), and C(connection) for those that got no answer.
  returned: with O(count)
  type: dict
  sample: {"503": 2, "connection": 1}
first_error:
  description: The first failure of the batch (status and the start of the body, or the connection error).
  returned: with O(count), when a request failed
  type: str
  sample: "HTTP 503: no healthy upstream"
latency_ms:
  description:
    - Latency of the batch's requests in milliseconds (failed ones included), rounded to 0.1 ms.
  returned: with O(count)
  type: dict
  contains:
    min:
      description: The fastest request.
      type: float
    mean:
      description: The mean.
      type: float
    p50:
      description: The median (nearest rank).
      type: float
    p95:
      description: The 95th percentile (nearest rank).
      type: float
    p99:
      description: The 99th percentile (nearest rank).
      type: float
    max:
      description: The slowest request.
      type: float
  sample: {"min": 4.1, "mean": 9.8, "p50": 8.9, "p95": 16.2, "p99": 24.0, "max": 31.5}
predictors:
  description:
    - Successful answers per predictor, named by O(predictors) from the answers' C(meta.requestPath) (or that
      path as text without O(predictors)); V(unknown) for answers without one or that match none.
  returned: with O(count)
  type: dict
  sample: {"main": 751, "canary": 249}
split:
  description: RV(predictors) as percentages of the successful answers, rounded to 0.1.
  returned: with O(count)
  type: dict
  sample: {"main": 75.1, "canary": 24.9}
request_paths:
  description: Successful answers per C(meta.requestPath) as text (C(node=image), comma separated).
  returned: with O(count)
  type: dict
  sample: {"classifier=seldonio/sklearnserver:1.18.2": 751, "classifier-canary=seldonio/sklearnserver:1.18.2": 249}
requests_per_second:
  description: RV(count) / RV(elapsed).
  returned: with O(count)
  type: float
  sample: 412.3
expectation_failures:
  description: What did not hold of O(expect), with the numbers (also in C(msg)).
  returned: with O(count), when O(expect) does not hold
  type: list
  elements: str
  sample: ["predictor canary answered 49.0 % of the successful requests (490 of 1000), expected 25 % +/- 5"]
warmup_attempts:
  description: Attempts of the first request of a batch (it is retried while the route warms up, see O(timeout)).
  returned: with O(count)
  type: int
  sample: 1
warmup_elapsed:
  description: Seconds the first request of a batch took, retries included.
  returned: with O(count)
  type: float
"""

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url
from ansible_collections.mlops.k8s.plugins.module_utils import args as k8s_args
from ansible_collections.mlops.k8s.plugins.module_utils import predict, predict_batch
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import MlopsModule

# MlopsModule (above) masks an inline kubeconfig's credentials from the start and refuses non-mapping values of
# options with suboptions with a message
SELDON_GROUP_VERSION = "machinelearning.seldon.io/v1"
# options of this module that the Kubernetes connection options also have: here they are about the model's URL
OWN_OPTIONS = ("validate_certs", "request_timeout")


def argument_spec():
    spec = {k: v for k, v in k8s_args.auth_spec().items() if k not in OWN_OPTIONS}
    spec.update({
        "url": {"type": "str", "fallback": (env_fallback, [predict.GATEWAY_ENV])},
        "target": {"type": "str", "default": "gateway", "choices": ["gateway", "service", "service_proxy"],
                   "aliases": ["via"]},
        "name": {"type": "str"},
        "namespace": {"type": "str", "default": "default"},
        "predictor": {"type": "str"},
        "service": {"type": "str"},
        "service_port": {"type": "str", "default": "http"},
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
        "validate_certs": {"type": "bool", "default": True, "aliases": ["verify_ssl"]},
        "timeout": {"type": "int", "default": 60},
        "request_timeout": {"type": "int", "default": 30},
        "retry_statuses": {"type": "list", "elements": "int", "default": [404, 502, 503, 504]},
        "expected": {"type": "dict"},
        "expected_contains": {"type": "dict"},
        "count": {"type": "int"},
        "concurrency": {"type": "int", "default": 10},
        "rate": {"type": "float"},
        "predictors": {"type": "dict"},
        "expect": {"type": "dict"},
    })
    return spec


def _check_batch_options(params):
    if params["count"] is None:
        extra = [k for k in ("rate", "predictors", "expect") if params.get(k) is not None]
        if extra:
            raise predict.PredictError("%s only apply to a batch: set count" % ", ".join(extra))
        return None
    predict_batch.check_batch(params["count"], params["concurrency"], params["rate"])
    predictors = params["predictors"]
    if predictors is not None and (not predictors or not all(isinstance(v, str) and v.strip()
                                                             for v in predictors.values())):
        raise predict.PredictError("predictors must map each predictor name to a non-empty graph node name, image or "
                                   "node=image text found in the answers' meta.requestPath")
    return predict_batch.check_expect(params["expect"])


def _proxy_target(params, body_path):
    """(ServiceProxy, API path, shown URL) of target service_proxy; reads the SeldonDeployment when no service is
    given (one GET), to name the predictor's Service as the Seldon operator does."""
    from ansible_collections.mlops.k8s.plugins.module_utils import predict_http, seldon
    from ansible_collections.mlops.k8s.plugins.module_utils.client import build_client

    if params["bearer_token"]:
        raise predict.PredictError("bearer_token cannot be used with target service_proxy: the request carries the "
                                   "Kubernetes credentials to the API server (put a model token in headers under "
                                   "another name)")
    namespace = params["namespace"] or "default"
    service = params["service"]
    if not service and not params["name"]:
        raise predict.PredictError("target service_proxy needs service (the predictor's Service) or name (the "
                                   "SeldonDeployment, whose predictor's Service is used)")
    # checked before the client is built: nothing is requested with a bad name
    predict_http.service_proxy_path(namespace, service or "x", params["service_port"], body_path)
    if params["name"]:
        predict.predict_url("http://x", params["name"], namespace)
    auth = dict(params)  # request_timeout (the prediction's) is also the one of the read of the SeldonDeployment
    auth["validate_certs"] = None  # validate_certs is the model URL's; the kubeconfig decides for the API server
    try:
        client = build_client(auth, pool_maxsize=params["concurrency"] if params["count"] else None)
        if not service:
            sdep = client.get(client.resource(SELDON_GROUP_VERSION, "SeldonDeployment"), params["name"], namespace)
            if sdep is None:
                raise predict.PredictError("SeldonDeployment %s/%s not found (give service to name the Service "
                                           "yourself)" % (namespace, params["name"]))
            service = _predictor_service(sdep, params["predictor"], seldon)
    except K8sError as err:
        raise predict.PredictError(err.msg) from None
    path = predict_http.service_proxy_path(namespace, service, params["service_port"], body_path)
    proxy = predict_http.ServiceProxy(client)
    return proxy, path, proxy.url(path)


def _predictor_service(sdep, wanted, seldon):
    predictors = (sdep.get("spec") or {}).get("predictors") or []
    names = [p.get("name") for p in predictors]
    if wanted:
        chosen = next((p for p in predictors if p.get("name") == wanted), None)
        if chosen is None:
            raise predict.PredictError("SeldonDeployment %s has no predictor %s (it has %s)"
                                       % (sdep["metadata"]["name"], wanted, ", ".join(map(str, names)) or "none"))
    else:
        chosen = next((p for p in predictors if not p.get("shadow")), None)
        if chosen is None:
            raise predict.PredictError("SeldonDeployment %s has no predictor" % sdep["metadata"]["name"])
    return seldon.predictor_service(sdep["metadata"]["name"], chosen)


def run(params, opener=open_url, sender_factory=None):
    """The module's work, without AnsibleModule: returns (failed, result)."""
    protocol = params["protocol"]
    predict.check_timeouts(params["timeout"], params["request_timeout"])
    expect = _check_batch_options(params)
    if predict.is_v2(protocol) and not params["model_name"] and not params["path"]:
        raise predict.PredictError("model_name is required with protocol v2 (the graph node name, for example "
                                   "classifier), or give path")
    body = predict.build_payload(protocol, data=params["data"], names=params["names"], str_data=params["str_data"],
                                 json_data=params["json_data"], inputs=params["inputs"], payload=params["payload"])
    headers = dict(params["headers"] or {})
    proxy = None
    if params["target"] == "service_proxy":
        body_path = params["path"] or predict.service_path(protocol, params["model_name"])
        proxy, proxy_path, url = _proxy_target(params, body_path)
        opener = proxy.opener_for(proxy_path)
    else:
        url = predict.predict_url(params["url"], params["name"], params["namespace"], protocol=protocol,
                                  model_name=params["model_name"], path=params["path"], target=params["target"])
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
    if params["count"] is None:
        return False, answer
    return _run_batch(params, answer, body, headers, url, proxy, proxy_path if proxy else None, expect,
                      sender_factory)


def _run_batch(params, answer, body, headers, url, proxy, proxy_path, expect, sender_factory):  # noqa: PLR0917
    """After the first answer (the route is up, the payload is accepted): ``count`` more, once each."""
    import json

    from ansible_collections.mlops.k8s.plugins.module_utils import predict_http

    if sender_factory is not None:
        send = sender_factory(url, headers)
    elif proxy is not None:
        send = proxy.sender(proxy_path, headers, params["request_timeout"])
    else:
        send = predict_http.pool_sender(url, headers, validate_certs=params["validate_certs"],
                                        request_timeout=params["request_timeout"], concurrency=params["concurrency"])
    data = json.dumps(body).encode("utf-8")
    records, elapsed, first_error = predict_batch.run(send, data, params["count"], params["concurrency"],
                                                      params["rate"])
    stats = predict_batch.summarize(records, params["predictors"], elapsed)
    answer["warmup_attempts"] = answer.pop("attempts")
    answer["warmup_elapsed"] = answer.pop("elapsed")
    answer.update(stats)
    answer["concurrency"] = min(params["concurrency"], params["count"])
    if first_error:
        answer["first_error"] = first_error
    problems = predict_batch.expectation_problems(stats, expect)
    if problems:
        answer["expectation_failures"] = problems
        answer["msg"] = "%d predictions to %s: %s" % (params["count"], url, "; ".join(problems))
        return True, answer
    return False, answer


def main():
    module = MlopsModule(argument_spec(), supports_check_mode=True,
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
