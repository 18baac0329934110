# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A progressive canary of a SeldonDeployment: the predictors of each step, what the canary's answers measure
against the main predictor's, and the decision. No I/O here: canary_rollout (the module) applies, waits and sends.

Which predictor answered comes from Seldon's ``meta.requestPath`` (the graph's node names), so the canary's root
node must be named differently from the main one's (``canary_predictor`` sees to it). An answer that is an error
says nothing about who sent it: every failed request of a step is charged to the canary, the main predictor having
answered alone and cleanly before the rollout started.
"""

from __future__ import annotations

import copy

from ansible_collections.mlops.k8s.plugins.module_utils import predict_batch, seldon
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

DEFAULT_STEPS = (10, 25, 50)
MAIN, CANARY = "main", "canary"


def check_steps(steps):
    """Canary weights in percent: whole numbers from 1 to 99, increasing."""
    if not steps:
        raise K8sError("steps must list at least one canary weight in percent, for example [10, 25, 50]")
    out = []
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 99:
            raise K8sError("steps: each is a whole percentage from 1 to 99, got %r" % (step,))
        if out and step <= out[-1]:
            raise K8sError("steps must increase, got %s" % list(steps))
        out.append(step)
    return out


def serving(sdep):
    """The predictors that take traffic (shadows do not)."""
    return [p for p in ((sdep.get("spec") or {}).get("predictors") or []) if not p.get("shadow")]


def split_live(sdep, canary_name):
    """(main, canary or None) of the live SeldonDeployment: its one serving predictor, or, after an interrupted
    rollout, the serving predictor that is not named ``canary_name`` and the one that is."""
    preds = serving(sdep)
    if len(preds) == 1 and preds[0].get("name") != canary_name:
        return preds[0], None
    if len(preds) == 2 and canary_name in [p.get("name") for p in preds]:
        main = next(p for p in preds if p.get("name") != canary_name)
        return main, next(p for p in preds if p.get("name") == canary_name)
    names = ", ".join(str(p.get("name")) for p in preds) or "none"
    raise K8sError("a canary rollout needs one serving predictor to compare with; %s has %d (%s)"
                   % (seldon_ref(sdep), len(preds), names))


def seldon_ref(sdep):
    meta = sdep.get("metadata") or {}
    return "SeldonDeployment %s/%s" % (meta.get("namespace"), meta.get("name"))


def root_node(predictor):
    return (predictor.get("graph") or {}).get("name")


def canary_predictor(options, main):
    """The canary's PredictorSpec from the friendly predictor options (as seldon_deployment's ``predictors``),
    its root node renamed ``<predictor name>-<node>`` when it would carry the main root's name (a container of
    the same name in its componentSpecs follows)."""
    options = dict(options or {})
    options.setdefault("name", CANARY)
    options.pop("traffic", None)
    options.pop("shadow", None)
    pred = seldon.build_predictor(options, 0)
    if pred["name"] == main.get("name"):
        raise K8sError("canary: the predictor name %r is the main predictor's; give another name" % pred["name"])
    if root_node(pred) == root_node(main):
        _rename_root(pred, "%s-%s" % (pred["name"], root_node(pred)))
    return pred


def _root_containers(pred, name):
    """The containers of a predictor's componentSpecs that implement its graph node ``name``."""
    if name is None:
        return []
    return [container for comp in pred.get("componentSpecs") or []
            for container in ((comp.get("spec") or {}).get("containers") or []) if container.get("name") == name]


def _model_of(pred):
    """What a predictor serves, without what only names it or shares traffic."""
    out = copy.deepcopy(pred)
    for key in ("name", "traffic", "replicas"):
        out.pop(key, None)
    old = (out.get("graph") or {}).pop("name", None)
    for container in _root_containers(out, old):
        container.pop("name")
    return out


def same_model(live_pred, desired_pred):
    """Whether the live predictor already serves what the desired one describes (fields the desired one leaves
    out, such as the operator's defaults, are not compared)."""
    return _covers(_model_of(live_pred), _model_of(desired_pred))


def _covers(live, want):
    if isinstance(want, dict):
        return isinstance(live, dict) and all(_covers(live.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(
            _covers(live[i], w) for i, w in enumerate(want))
    return live == want


def step_predictors(main, canary, weight):
    main = dict(main, traffic=100 - weight)
    main.pop("shadow", None)
    return [main, dict(canary, traffic=weight)]


def promoted(main, canary):
    """The canary's model as the main predictor: its name, its root node's name and replicas, no traffic share."""
    out = {k: copy.deepcopy(v) for k, v in canary.items() if k != "traffic"}
    out["name"] = main["name"]
    if main.get("replicas") is not None and canary.get("replicas") is None:
        out["replicas"] = main["replicas"]
    _rename_root(out, root_node(main))
    return out


def promotion(main, canary):
    """The two applies of a promotion without a moment of downtime: the canary takes all the traffic while the main
    predictor rolls to the canary's model, then the main one takes it back and the canary is removed."""
    new_main = promoted(main, canary)
    return [[dict(new_main, traffic=0), dict(canary, traffic=100)], [new_main]]


def _rename_root(pred, new):
    old = root_node(pred)
    if old == new or old is None:
        return
    for container in _root_containers(pred, old):
        container["name"] = new
    pred["graph"]["name"] = new


def restored(main):
    return {k: v for k, v in main.items() if k != "traffic"}


# -- judging answers ----------------------------------------------------------------------------------------
def _argmax(row):
    if isinstance(row, list) and row and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
        return max(range(len(row)), key=row.__getitem__)
    if isinstance(row, (int, float)) and not isinstance(row, bool):
        return int(row)
    return None


def accuracy_judge(expected_classes, protocol="seldon"):
    """judge(answer) -> the fraction of rows whose class (the argmax of the probabilities, or the class given) is
    the expected one; 0.0 for an answer without rows."""
    expected = list(expected_classes)

    def judge(answer):
        values, _shape = seldon_output(answer, protocol)
        if not isinstance(values, list) or len(values) != len(expected):
            return 0.0
        return sum(1 for i, want in enumerate(expected) if _argmax(values[i]) == want) / float(len(expected))

    return judge


def seldon_output(answer, protocol):
    from ansible_collections.mlops.k8s.plugins.module_utils.predict import main_output

    try:
        return main_output(answer, protocol)
    except (AttributeError, TypeError, ValueError):
        return None, None


def measure(records, main, canary):
    """Per predictor: answers, p99 latency, mean score; and the failed requests of the step (no predictor known)."""
    selectors = {MAIN: root_node(main), CANARY: root_node(canary)}
    out = {MAIN: [], CANARY: []}
    failed = 0
    for rec in records:
        if rec["status"] is None or not 200 <= rec["status"] < 300:
            failed += 1
            continue
        who = predict_batch.predictor_of(rec.get("key"), selectors)
        if who in out:
            out[who].append(rec)
    stats = {"requests": len(records), "failed": failed}
    for who, recs in out.items():
        lat = sorted(r["ms"] for r in recs)
        scores = [r["score"] for r in recs if r.get("score") is not None]
        stats[who] = {"answers": len(recs), "p99_ms": round(predict_batch.percentile(lat, 99), 1) if lat else None,
                      "accuracy": round(sum(scores) / len(scores), 4) if scores else None}
    charged = failed + stats[CANARY]["answers"]
    stats[CANARY]["error_rate"] = round(failed / float(charged), 4) if charged else 0.0
    return stats


def decide(stats, weight, limits):
    """(passed, reasons): the reasons name each number that failed its limit (empty when passed)."""
    reasons = []
    can, main = stats[CANARY], stats[MAIN]
    if can["error_rate"] > limits["max_error_rate"]:
        reasons.append("error rate %.1f %% (%d failed of %d requests, all charged to the canary) is above %.1f %%"
                       % (100 * can["error_rate"], stats["failed"], stats["requests"], 100 * limits["max_error_rate"]))
    if can["answers"] < limits["min_canary_answers"] and not reasons:
        reasons.append("the canary answered %d of %d requests at %d %%, fewer than the %d needed to judge it"
                       % (can["answers"], stats["requests"], weight, limits["min_canary_answers"]))
    if can["p99_ms"] is not None and main["p99_ms"] is not None:
        allowed = max(main["p99_ms"] * limits["max_latency_ratio"], main["p99_ms"] + limits["latency_slack_ms"])
        if can["p99_ms"] > allowed:
            reasons.append("p99 latency %.1f ms is above %.1f ms (main %.1f ms x %s, or + %s ms)"
                           % (can["p99_ms"], allowed, main["p99_ms"], limits["max_latency_ratio"],
                              limits["latency_slack_ms"]))
    if can["accuracy"] is not None:
        floor = limits.get("min_accuracy")
        if main["accuracy"] is not None:
            relative = main["accuracy"] - limits["max_accuracy_drop"]
            floor = relative if floor is None else max(floor, relative)
        if floor is not None and can["accuracy"] < floor:
            reasons.append("accuracy %.3f is below %.3f (main %s)" % (
                can["accuracy"], floor, "%.3f" % main["accuracy"] if main["accuracy"] is not None else "unknown"))
    return not reasons, reasons


def describe(weight, stats, passed, reasons):
    """One line per step, as the task prints it."""
    can, main = stats[CANARY], stats[MAIN]

    def fmt(v, unit=""):
        return "-" if v is None else ("%s%s" % (v, unit))

    line = ("canary %d %%: %d requests, canary %d answers (errors %.1f %%, p99 %s, accuracy %s), main %d answers "
            "(p99 %s, accuracy %s): %s" % (
                weight, stats["requests"], can["answers"], 100 * can["error_rate"], fmt(can["p99_ms"], " ms"),
                fmt(can["accuracy"]), main["answers"], fmt(main["p99_ms"], " ms"), fmt(main["accuracy"]),
                "pass" if passed else "FAIL: " + "; ".join(reasons)))
    return line
