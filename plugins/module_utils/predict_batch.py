# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batches of predictions: N requests from a pool of threads on keep-alive connections, their latency
distribution, errors by status, which predictor answered (Seldon's ``meta.requestPath``) and an expectation.

The HTTP side is a ``send(body_bytes) -> (status, body_bytes)`` callable given by the caller (a urllib3 pool on
the gateway or the Service, or the Kubernetes client's pool through the API server's service proxy); a
connection failure raises ``OSError`` (or anything else: it is counted as an error, never retried).
"""

from __future__ import annotations

import json
import threading
import time

from ansible_collections.mlops.k8s.plugins.module_utils.predict import PredictError

MAX_COUNT = 1000000
MAX_CONCURRENCY = 256
UNKNOWN = "unknown"
ERROR_KEY = "connection"  # errors_by_status key of requests that got no HTTP answer


def check_batch(count, concurrency, rate):
    """Refuse nonsense before any request: count 1..1e6, concurrency 1..256, rate > 0 requests per second."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise PredictError("count must be a whole number from 1 to %d, got %r" % (MAX_COUNT, count))
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise PredictError("concurrency must be a whole number from 1 to %d, got %r" % (MAX_CONCURRENCY, concurrency))
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
        raise PredictError("rate must be a number of requests per second above 0, got %r" % (rate,))


# -- which predictor answered ----------------------------------------------------------------------------
def request_path_key(answer):
    """``meta.requestPath`` of a Seldon answer as one text (``node=image``, sorted, comma separated), or None.

    Seldon Core v1's model servers (and its executor, for graphs of several nodes) put there every graph node
    that handled the request and the image it runs; it is the only trace of the predictor in an answer.
    """
    meta = answer.get("meta") if isinstance(answer, dict) else None
    path = meta.get("requestPath") if isinstance(meta, dict) else None
    if not isinstance(path, dict) or not path:
        return None
    return ",".join("%s=%s" % (node, path[node]) for node in sorted(path))


def _matches(key, selector):
    """A predictor selector matches a requestPath key: ``node=image`` pairs, a node name or an image."""
    pairs = key.split(",")
    wanted = [part.strip() for part in str(selector).split(",") if part.strip()]
    nodes = {pair.partition("=")[0] for pair in pairs}
    images = {pair.partition("=")[2] for pair in pairs}
    return bool(wanted) and all(w in pairs or w in nodes or w in images for w in wanted)


def predictor_of(key, predictors):
    """The predictor name of a requestPath key: the first of ``predictors`` (name -> selector) that matches, the
    key itself without ``predictors``, or ``unknown``."""
    if key is None:
        return UNKNOWN
    if not predictors:
        return key
    for name, selector in predictors.items():
        if _matches(key, selector):
            return name
    return UNKNOWN


# -- statistics -------------------------------------------------------------------------------------------
def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (None when empty): the smallest value with at least ``pct``
    percent of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


def latency_summary(latencies_ms):
    """min, mean, p50, p95, p99, max of the latencies (milliseconds, rounded to 0.1 ms); {} when empty."""
    values = sorted(latencies_ms)
    if not values:
        return {}
    out = {"min": values[0], "mean": sum(values) / len(values)}
    for pct in (50, 95, 99):
        out["p%d" % pct] = percentile(values, pct)
    out["max"] = values[-1]
    return {k: round(v, 1) for k, v in out.items()}


def summarize(records, predictors=None, elapsed=None):
    """The batch result from one record per request: ``{status, ms, key}`` (status None: no HTTP answer)."""
    total = len(records)
    ok = [r for r in records if r["status"] is not None and 200 <= r["status"] < 300]
    errors = {}
    for rec in records:
        if rec["status"] is None or not 200 <= rec["status"] < 300:
            label = ERROR_KEY if rec["status"] is None else str(rec["status"])
            errors[label] = errors.get(label, 0) + 1
    request_paths, by_predictor = {}, {}
    for rec in ok:
        label = rec.get("key") or UNKNOWN
        request_paths[label] = request_paths.get(label, 0) + 1
        name = predictor_of(rec.get("key"), predictors)
        by_predictor[name] = by_predictor.get(name, 0) + 1
    result = {
        "count": total,
        "succeeded": len(ok),
        "failed": total - len(ok),
        "error_rate": round((total - len(ok)) / total, 4) if total else 0.0,
        "errors_by_status": errors,
        "latency_ms": latency_summary([r["ms"] for r in records]),
        "predictors": by_predictor,
        "request_paths": request_paths,
        "split": {name: round(100.0 * n / len(ok), 1) for name, n in by_predictor.items()} if ok else {},
    }
    if elapsed is not None:
        result["elapsed"] = round(elapsed, 3)
        result["requests_per_second"] = round(total / elapsed, 1) if elapsed > 0 else None
    return result


# -- expectation ------------------------------------------------------------------------------------------
EXPECT_KEYS = ("split", "tolerance", "max_error_rate", "max_p99_ms", "max_p95_ms", "max_p50_ms", "min_succeeded")
DEFAULT_TOLERANCE = 5.0


def check_expect(expect):
    """Validate the ``expect`` option before any request; return it normalised."""
    if expect is None:
        return None
    if not isinstance(expect, dict):
        raise PredictError("expect must be a mapping (split, tolerance, max_error_rate, max_p99_ms, ...)")
    unknown = sorted(set(expect) - set(EXPECT_KEYS))
    if unknown:
        raise PredictError("expect has unknown keys %s; known: %s" % (", ".join(unknown), ", ".join(EXPECT_KEYS)))
    out = {}
    split = expect.get("split")
    if split is not None:
        if not isinstance(split, dict) or not split:
            raise PredictError("expect.split must map predictor names to percentages, e.g. {main: 75, canary: 25}")
        out["split"] = {}
        for name, share in split.items():
            out["split"][str(name)] = _number(share, "expect.split.%s" % name, 0, 100)
    for key in EXPECT_KEYS[1:]:
        if expect.get(key) is not None:
            high = 100 if key == "tolerance" else (1 if key == "max_error_rate" else None)
            out[key] = _number(expect[key], "expect.%s" % key, 0, high)
    out.setdefault("tolerance", DEFAULT_TOLERANCE)
    return out


def _number(value, what, low, high=None):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or \
            (high is not None and value > high):
        bound = "from %s to %s" % (low, high) if high is not None else "%s or more" % low
        raise PredictError("%s must be a number %s, got %r" % (what, bound, value))
    return value


def expectation_problems(result, expect):
    """One text per unmet bound of ``expect`` (see check_expect), [] when all hold."""
    if not expect:
        return []
    problems = []
    split = expect.get("split")
    if split:
        tolerance = expect.get("tolerance", DEFAULT_TOLERANCE)
        measured = result.get("split") or {}
        for name, share in split.items():
            got = measured.get(name, 0.0)
            if abs(got - share) > tolerance:
                problems.append("predictor %s answered %.1f %% of the successful requests (%d of %d), expected %s "
                                "%% +/- %s" % (name, got, result["predictors"].get(name, 0), result["succeeded"],
                                               _num(share), _num(tolerance)))
        others = sorted(set(measured) - set(split))
        for name in others:
            if measured[name] > tolerance:
                problems.append("%s answered %.1f %% of the successful requests (%d), not in expect.split %s"
                                % (name, measured[name], result["predictors"][name], sorted(split)))
    if expect.get("max_error_rate") is not None and result["error_rate"] > expect["max_error_rate"]:
        problems.append("error rate %.4f (%d of %d failed: %s) is over %s"
                        % (result["error_rate"], result["failed"], result["count"],
                           json.dumps(result["errors_by_status"], sort_keys=True), _num(expect["max_error_rate"])))
    for pct in ("p50", "p95", "p99"):
        bound = expect.get("max_%s_ms" % pct)
        got = (result.get("latency_ms") or {}).get(pct)
        if bound is not None and got is not None and got > bound:
            problems.append("%s latency %.1f ms is over %s ms" % (pct, got, _num(bound)))
    if expect.get("min_succeeded") is not None and result["succeeded"] < expect["min_succeeded"]:
        problems.append("%d requests succeeded, expected at least %s"
                        % (result["succeeded"], _num(expect["min_succeeded"])))
    return problems


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%s" % value)


# -- running ----------------------------------------------------------------------------------------------
def run(send, body, count, concurrency=1, rate=None, *, parse=json.loads, clock=time.monotonic, sleep=time.sleep,
        judge=None):
    """Send ``body`` ``count`` times from ``concurrency`` threads, at most ``rate`` requests per second overall.

    Returns ``(records, elapsed_seconds, first_error)``: one ``{status, ms, key}`` per request, in the order they
    were started, and the first failure's text (an HTTP status and the start of its body, or the exception).
    With ``judge(answer) -> number``, each answered request's record also has ``score`` (None when the answer is
    not JSON).
    """
    records = [None] * count
    lock = threading.Lock()
    state = {"next": 0, "first_error": None}
    start = clock()

    def take():
        with lock:
            index = state["next"]
            if index >= count:
                return None
            state["next"] = index + 1
        if rate:
            delay = start + index / float(rate) - clock()
            if delay > 0:
                sleep(delay)
        return index

    def note_error(text):
        with lock:
            if state["first_error"] is None:
                state["first_error"] = text

    def worker():
        while True:
            index = take()
            if index is None:
                return
            began = clock()
            status, key, score = None, None, None
            try:
                status, data = send(body)
            except Exception as exc:  # a connection that failed is a failed request, counted and reported
                note_error("connection failed: %s" % (" ".join(str(exc).split())[:300] or type(exc).__name__))
            else:
                if 200 <= status < 300:
                    try:
                        parsed = parse(data) if data else None
                    except ValueError:
                        parsed = None
                    key = request_path_key(parsed)
                    score = judge(parsed) if judge is not None and parsed is not None else None
                else:
                    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
                    note_error("HTTP %s: %s" % (status, " ".join(text.split())[:300]))
            records[index] = {"status": status, "ms": (clock() - began) * 1000.0, "key": key}
            if judge is not None:
                records[index]["score"] = score

    threads = [threading.Thread(target=worker, name="predict-%d" % i, daemon=True)
               for i in range(min(concurrency, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records, clock() - start, state["first_error"]
