#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_rollout
short_description: Roll a new model out as a canary in steps, judge it against the main predictor, promote or roll back
version_added: "0.1.0"
description:
  - Takes a SeldonDeployment (Seldon Core v1) that serves one model, adds the O(canary) predictor with the first of
    O(steps) percent of the traffic, waits until it is C(Available), sends O(requests) predictions through the
    gateway and compares the canary's answers with the main predictor's, then goes to the next step.
  - The canary passes a step when its error rate is at most O(max_error_rate) (every failed request of the step is
    charged to it, since an error answer does not say which predictor sent it), its p99 latency at most
    O(max_latency_ratio) times the main one's (or the main one's plus O(latency_slack_ms)), and, with
    O(expected_classes), its accuracy at least the main one's minus O(max_accuracy_drop) (and O(min_accuracy)).
  - After the last step the canary is promoted. It takes all the traffic while the main predictor rolls to the
    canary's model (keeping its predictor and node names), then the main predictor takes the traffic back and the
    canary predictor is removed, so that no request meets a predictor that is not ready.
  - When a step fails, the canary is removed (the main predictor gets all the traffic back) and the task fails
    with the numbers that decided.
  - Every decision is in RV(steps) and RV(decisions), one line per step.
  - Which predictor answered is read from Seldon's C(meta.requestPath), the graph's node names; the canary's root
    node is renamed C(<canary name>-<node>) when it would have the main root's name.
  - Idempotent. When the main predictor already serves the canary's model, nothing is sent (C(changed=false)).
    A rollout interrupted mid-way (a predictor named as the canary still in the SeldonDeployment) starts again at
    the first step.
author: mlops.k8s maintainers (@mlops-k8s)
options:
  name:
    description: Name of the SeldonDeployment.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    default: default
  canary:
    description:
      - The new model, as one predictor of O(mlops.k8s.seldon_deployment#module:predictors) (for example
        C(implementation), C(model_uri), C(env_secret_ref_name)); C(name) defaults to C(canary).
      - C(traffic) and C(shadow) are ignored (the steps decide the traffic).
    type: dict
    required: true
  steps:
    description: The canary's share of the traffic at each step, in percent, increasing, from 1 to 99.
    type: list
    elements: int
    default: [10, 25, 50]
  url:
    description:
      - Base URL of the ingress gateway (Ambassador/Emissary) the predictions go through. Defaults to the
        E(MLOPS_K8S_GATEWAY_URL) environment variable.
    type: str
  data:
    description: The C(data.ndarray) rows of every prediction request.
    type: list
    elements: raw
    required: true
  expected_classes:
    description:
      - The class of each row of O(data) (the argmax of the answer's probabilities, or the class it answers). With
        it, the accuracy of both predictors is measured and compared.
    type: list
    elements: int
  requests:
    description: Predictions sent at each step.
    type: int
    default: 200
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 4
  max_error_rate:
    description: Largest share of failed requests (from 0 to 1) the canary may be charged with at a step.
    type: float
    default: 0.01
  max_latency_ratio:
    description: Largest canary p99 latency as a multiple of the main predictor's (see O(latency_slack_ms)).
    type: float
    default: 2.0
  latency_slack_ms:
    description: The canary's p99 may also exceed the main one's by this many milliseconds (small latencies are noisy).
    type: float
    default: 50
  max_accuracy_drop:
    description: With O(expected_classes), how much lower than the main predictor's the canary's accuracy may be.
    type: float
    default: 0.05
  min_accuracy:
    description: With O(expected_classes), the lowest accuracy the canary may have, whatever the main one's.
    type: float
  min_canary_answers:
    description: Fewest answers from the canary at a step to judge it; fewer fails the step.
    type: int
    default: 5
  wait_timeout:
    description: Seconds to wait for the SeldonDeployment to be C(Available) after each change.
    type: int
    default: 600
  request_timeout:
    description: Seconds for one prediction request.
    type: int
    default: 30
  gateway_validate_certs:
    description: Verify the gateway's TLS certificate (O(validate_certs) is the API server's).
    type: bool
    default: true
  field_manager:
    description:
      - Server-side apply field manager; the default is M(mlops.k8s.seldon_deployment)'s, so that its next run with
        the promoted model changes nothing.
    type: str
    default: mlops.k8s
  force_conflicts:
    description: Take over fields another field manager owns.
    type: bool
    default: false
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description: Reports the plan (the steps and the promotion) without changing or sending anything.
    support: full
  diff_mode:
    description: Not supported; the steps say what changed.
    support: none
notes:
  - Send predictions that every model version accepts; O(data) is sent as it is to both predictors.
  - After a promotion, update the model in your inventory too, or the next M(mlops.k8s.seldon_deployment) run
    puts the old one back.
seealso:
  - module: mlops.k8s.seldon_deployment
  - module: mlops.k8s.model_predict
"""

EXAMPLES = r"""
- name: Roll iris v2 out at 10, 25 then 50 percent; promote it if it is as good as v1
  mlops.k8s.canary_rollout:
    name: iris
    namespace: models
    canary:
      implementation: SKLEARN_SERVER
      model_uri: s3://models/iris/v2
      env_secret_ref_name: seldon-init-container-secret
    data: [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]
    expected_classes: [0, 1, 2]
    url: http://ambassador.example.com
  register: rollout

- name: Print every decision
  ansible.builtin.debug:
    var: rollout.decisions
"""

RETURN = r"""
promoted:
  description: Whether the canary's model now serves all the traffic as the main predictor.
  returned: always
  type: bool
rolled_back:
  description: Whether a failed step removed the canary again.
  returned: always
  type: bool
decisions:
  description: One line per step, with the numbers that decided it.
  returned: always
  type: list
  elements: str
  sample: ["canary 10 %: 200 requests, canary 21 answers (errors 0.0 %, p99 12.1 ms, accuracy 1.0), main 179
    answers (p99 11.7 ms, accuracy 1.0): pass"]
steps:
  description: Each step's measures.
  returned: always
  type: list
  elements: dict
  contains:
    weight:
      description: The canary's share of the traffic, percent.
      type: int
    passed:
      description: Whether the canary passed.
      type: bool
    reasons:
      description: What failed, one entry per limit exceeded.
      type: list
      elements: str
    measures:
      description: C(requests), C(failed), and per predictor (C(main), C(canary)) C(answers), C(p99_ms), C(accuracy);
        the canary's C(error_rate).
      type: dict
resource:
  description: The SeldonDeployment after the rollout (or the rollback), without C(managedFields).
  returned: when something was applied
  type: dict
"""

import json

from ansible.module_utils.basic import env_fallback
from ansible_collections.mlops.k8s.plugins.module_utils import canary as cn
from ansible_collections.mlops.k8s.plugins.module_utils import limits, names, predict, predict_batch, rollback, seldon
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import public_object

WARM_UP_REQUESTS = 200


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "default": "default"},
        "canary": {"type": "dict", "required": True},
        "steps": {"type": "list", "elements": "int", "default": list(cn.DEFAULT_STEPS)},
        "url": {"type": "str", "fallback": (env_fallback, [predict.GATEWAY_ENV])},
        "data": {"type": "list", "elements": "raw", "required": True},
        "expected_classes": {"type": "list", "elements": "int"},
        "requests": {"type": "int", "default": 200},
        "concurrency": {"type": "int", "default": 4},
        "max_error_rate": {"type": "float", "default": 0.01},
        "max_latency_ratio": {"type": "float", "default": 2.0},
        "latency_slack_ms": {"type": "float", "default": 50.0},
        "max_accuracy_drop": {"type": "float", "default": 0.05},
        "min_accuracy": {"type": "float"},
        "min_canary_answers": {"type": "int", "default": 5},
        "wait_timeout": {"type": "int", "default": 600},
        "request_timeout": {"type": "int", "default": 30},
        "gateway_validate_certs": {"type": "bool", "default": True},
        "field_manager": {"type": "str", "default": "mlops.k8s"},
        "force_conflicts": {"type": "bool", "default": False},
    }


def check_options(params):
    """Everything that can be refused before a request is sent."""
    names.check_label(params["name"], "name", seldon.MAX_NAME)
    names.check_label(params["namespace"], "namespace")
    steps = cn.check_steps(params["steps"])
    for key, high in (("requests", predict_batch.MAX_COUNT), ("concurrency", predict_batch.MAX_CONCURRENCY)):
        if not 1 <= params[key] <= high:
            raise K8sError("%s must be a whole number from 1 to %d, got %r" % (key, high, params[key]))
    for key in ("max_error_rate", "max_accuracy_drop", "min_accuracy"):
        if params[key] is not None and not 0 <= params[key] <= 1:
            raise K8sError("%s must be from 0 to 1, got %s" % (key, params[key]))
    for key in ("max_latency_ratio", "latency_slack_ms"):
        if params[key] < 0:
            raise K8sError("%s must be 0 or more, got %s" % (key, params[key]))
    limits.check_int(params["min_canary_answers"], "min_canary_answers")
    if not params["data"]:
        raise K8sError("data must hold at least one row")
    if params["expected_classes"] is not None and len(params["expected_classes"]) != len(params["data"]):
        raise K8sError("expected_classes has %d entries for %d rows of data"
                       % (len(params["expected_classes"]), len(params["data"])))
    url = predict.predict_url(params["url"], params["name"], params["namespace"])
    return steps, url


class Rollout:
    """One rollout: the live object, the predictors, the HTTP sender and the steps measured so far."""

    def __init__(self, module, url):
        self.module = module
        self.params = module.params
        self.client = module.client
        self.resource = self.client.resource(seldon.API_VERSION, seldon.KIND)
        self.url = url
        self.steps = []
        self.decisions = []
        self._send = None

    def live(self):
        obj = self.client.get(self.resource, self.params["name"], self.params["namespace"])
        if obj is None:
            raise K8sError("SeldonDeployment %s/%s does not exist: deploy the main model first (seldon_deployment)"
                           % (self.params["namespace"], self.params["name"]))
        return obj

    def apply(self, live, predictors):
        """Apply the live spec with ``predictors`` and wait until it is Available; the object."""
        spec = dict(live.get("spec") or {}, predictors=predictors)
        meta = live["metadata"]
        body = {"apiVersion": seldon.API_VERSION, "kind": seldon.KIND,
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]}, "spec": spec}
        applied = self.client.apply(self.resource, body, field_manager=self.params["field_manager"],
                                    force_conflicts=self.params["force_conflicts"])
        changed = applied["metadata"].get("generation") != meta.get("generation")
        outcome = seldon.wait_available(self.client, meta["name"], meta["namespace"], applied=applied,
                                        spec_changed=changed, timeout=self.params["wait_timeout"])
        return outcome.object

    def sender(self):
        if self._send is None:
            from ansible_collections.mlops.k8s.plugins.module_utils import predict_http

            self._send = predict_http.pool_sender(self.url, {}, validate_certs=self.params["gateway_validate_certs"],
                                                  request_timeout=self.params["request_timeout"],
                                                  concurrency=self.params["concurrency"])
        return self._send

    def body(self):
        return json.dumps({"data": {"ndarray": self.params["data"]}}).encode("utf-8")

    def warm_up(self, canary):
        """Single requests until the canary answers once (the gateway takes the new weights a moment later); a
        canary that never answers is judged by the step itself."""
        node = cn.root_node(canary)
        for _attempt in range(WARM_UP_REQUESTS):
            try:
                status, data = self.sender()(self.body())
                key = predict_batch.request_path_key(json.loads(data)) if 200 <= status < 300 else None
            except (OSError, ValueError):
                continue
            if key and predict_batch.predictor_of(key, {cn.CANARY: node}) == cn.CANARY:
                return

    def step(self, weight, main, canary):
        judge = cn.accuracy_judge(self.params["expected_classes"]) if self.params["expected_classes"] else None
        self.warm_up(canary)
        records, _elapsed, _first_error = predict_batch.run(
            self.sender(), self.body(), self.params["requests"], self.params["concurrency"], judge=judge)
        stats = cn.measure(records, main, canary)
        passed, reasons = cn.decide(stats, weight, self.params)
        self.steps.append({"weight": weight, "passed": passed, "reasons": reasons, "measures": stats})
        self.decisions.append(cn.describe(weight, stats, passed, reasons))

    def unavailable(self, weight, err):
        reasons = ["the canary did not become Available: %s" % err.msg]
        self.steps.append({"weight": weight, "passed": False, "reasons": reasons, "measures": {}})
        self.decisions.append("canary %d %%: FAIL: %s" % (weight, reasons[0]))

    def result(self, **extra):
        out = {"steps": self.steps, "decisions": self.decisions, "promoted": False, "rolled_back": False}
        out.update(extra)
        return out


def run(module):
    params = module.params
    steps, url = check_options(params)
    rollout = Rollout(module, url)
    live = rollout.live()
    main, leftover = cn.split_live(live, (params["canary"] or {}).get("name") or cn.CANARY)
    canary = cn.canary_predictor(params["canary"], main)
    if leftover is None and cn.same_model(main, canary):
        return rollout.result(changed=False, msg="%s already serves this model" % cn.seldon_ref(live))
    if module.check_mode:
        plan = ["canary %d %%" % w for w in steps] + ["promote"]
        return rollout.result(changed=True, msg="would roll out in steps: " + ", ".join(plan))
    obj = live
    for weight in steps:
        try:
            obj = rollout.apply(obj, cn.step_predictors(main, canary, weight))
        except seldon.SeldonError as err:
            rollout.unavailable(weight, err)
        else:
            rollout.step(weight, main, canary)
        if not rollout.steps[-1]["passed"]:
            roll_back(module, rollout, obj, main, weight)
    for predictors in cn.promotion(main, canary):
        obj = rollout.apply(obj, predictors)
    note = rollback.record(rollout.client, rollout.resource, obj, obj.get("spec") or {})
    if note:
        module.warn("the last Available spec is not kept for rollback: " + note)
    return rollout.result(changed=True, promoted=True, resource=public_object(obj),
                          msg="promoted after %d steps: %s" % (len(steps), ", ".join("%d %%" % w for w in steps)))


def roll_back(module, rollout, obj, main, weight):
    """Remove the canary (the main predictor takes all the traffic again), wait, and fail with the numbers."""
    why = "the canary failed at %d %%: %s" % (weight, "; ".join(rollout.steps[-1]["reasons"]))
    try:
        obj = rollout.apply(rollout.live(), [cn.restored(main)])
    except seldon.SeldonError as err:
        module.fail_json(msg="%s; the rollback to the main predictor alone did not become Available either: %s"
                         % (why, err.msg), **rollout.result(changed=True, rolled_back=True))
    module.fail_json(msg=why + "; rolled back: the main predictor has all the traffic again",
                     **rollout.result(changed=True, rolled_back=True, resource=public_object(obj)))


def main():
    module = K8sAnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
