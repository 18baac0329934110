# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Predictions against a SeldonDeployment: payloads, URLs, retries while the route warms up, assertions.

No Kubernetes client and no ``requests``: the HTTP call goes through ``ansible.module_utils.urls.open_url``
(or any opener with the same signature, which is how the unit tests drive the retry logic).
"""

from __future__ import annotations

import json
import time

from ansible_collections.mlops.k8s.plugins.module_utils import limits, names, retries
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.seldon import MAX_NAME, gateway_path, is_v2, service_path
from ansible_collections.mlops.k8s.plugins.module_utils.text import compact_json, one_line

GATEWAY_ENV = "MLOPS_K8S_GATEWAY_URL"
MESSAGE_LIMIT = 500  # characters of a server answer or an error quoted in a message
V2_DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
                "FP64", "BYTES")


class PredictError(K8sError):
    """A user-facing failure: ``msg`` is one line; ``result`` what is known (status, body, attempts)."""

    def __init__(self, msg, **result):
        super().__init__(msg, status=result.get("status"))
        self.result = result


# -- payloads -----------------------------------------------------------------------------------------------
def shape_of(value):
    """Shape of a nested list (``[3, 4]`` for 3 rows of 4); ``[]`` for a scalar."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value):
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [value]


def _v2_datatype(values):
    flat = [v for v in _flatten(values) if v is not None]
    if flat and all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if flat and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return "FP64"
    return "BYTES"


def v2_inputs(inputs=None, data=None):
    """V2 ``inputs`` from a list of tensors (shape/datatype inferred when missing) or from a nested list."""
    if inputs is None and data is None:
        raise PredictError("give the V2 inputs (or data, a nested list sent as one tensor named input-0)")
    if inputs is None:
        inputs = [{"name": "input-0", "data": data}]
    if not isinstance(inputs, list):
        raise PredictError("inputs must be a list of tensors {name, shape, datatype, data}")
    out = []
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or "data" not in tensor:
            raise PredictError("inputs[%d] must be a mapping with data (and name, shape, datatype)" % i)
        item = dict(tensor)
        item.setdefault("name", "input-%d" % i)
        values = item["data"]
        if "shape" not in item:
            item["shape"] = shape_of(values) or [1]
        if "datatype" not in item:
            item["datatype"] = _v2_datatype(values)
        item["datatype"] = str(item["datatype"]).upper()
        if item["datatype"] not in V2_DATATYPES:
            raise PredictError("inputs[%d].datatype %s is not one of %s"
                               % (i, item["datatype"], ", ".join(V2_DATATYPES)))
        if isinstance(values, list) and len(shape_of(values)) > 1:
            item["data"] = _flatten(values)  # V2 tensors travel flat, row-major
        out.append(item)
    return out


def build_payload(protocol="seldon", *, data=None, names=None, str_data=None, json_data=None, inputs=None,
                  payload=None, meta=None, parameters=None):
    """The JSON body of a prediction request.

    Seldon protocol: exactly one of ``data`` (sent as ``data.ndarray``, with ``data.names`` when given),
    ``str_data`` (``strData``) or ``json_data`` (``jsonData``). V2: ``inputs`` (or ``data``) as ``inputs``.
    ``payload`` is sent as is.
    """
    if payload is not None:
        return payload
    if is_v2(protocol):
        if str_data is not None or json_data is not None or names:
            raise PredictError("str_data, json_data and names belong to the Seldon protocol; with protocol v2 "
                               "give inputs")
        body = {"inputs": v2_inputs(inputs, data)}
        if parameters:
            body["parameters"] = parameters
        return body
    given = [k for k, v in (("data", data), ("str_data", str_data), ("json_data", json_data)) if v is not None]
    if inputs is not None:
        raise PredictError("inputs belong to the V2 protocol; with protocol seldon give data, str_data or json_data")
    if len(given) != 1:
        raise PredictError("give exactly one of data, str_data and json_data for the Seldon protocol (got %s)"
                           % (", ".join(given) or "none"))
    if data is not None:
        body = {"data": {"ndarray": data}}
        if names:
            body["data"]["names"] = list(names)
    elif str_data is not None:
        body = {"strData": str_data}
    else:
        body = {"jsonData": json_data}
    if meta:
        body["meta"] = meta
    return body


def predict_url(url, name=None, namespace="default", *, protocol="seldon", model_name=None, path=None,
                target="gateway"):
    """Base URL + the endpoint path (``path`` wins; otherwise from the target, name, namespace and protocol)."""
    if not url:
        raise PredictError("url is required (the gateway base URL, or the predictor Service URL with "
                           "target: service); it can also come from %s" % GATEWAY_ENV)
    if path is None:
        try:  # the names become segments of the path
            if model_name is not None and is_v2(protocol):
                names.check_path_segment(model_name, "model_name")
            if target == "gateway" and name:
                names.check_label(name, "name", MAX_NAME)
                names.check_label(namespace or "default", "namespace")
        except K8sError as err:
            raise PredictError(err.msg) from None
        if target == "gateway":
            if not name:
                raise PredictError("name is required to build the gateway path (or give path)")
            path = gateway_path(namespace or "default", name, protocol, model_name)
        else:
            path = service_path(protocol, model_name)
    if path and not path.startswith("/"):
        path = "/" + path
    check_url(url)
    return url.rstrip("/") + path


def check_timeouts(timeout, request_timeout):
    """``timeout`` (all attempts) 0 or more, ``request_timeout`` (one attempt) 1 or more, seconds, at most a year."""
    try:
        limits.check_int(timeout, "timeout", 0, limits.MAX_SECONDS)
        limits.check_int(request_timeout, "request_timeout", 1, limits.MAX_SECONDS)
    except K8sError as err:
        raise PredictError(err.msg) from None


def check_url(url):
    """Refuse anything but an absolute http(s) URL with a host (``notaurl``, ``file://``, ``ftp://``...)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise PredictError("url must be an http:// or https:// URL with a host, got %r" % one_line(url, 200))
    return url


# -- answers ------------------------------------------------------------------------------------------------
def main_output(answer, protocol="seldon"):  # noqa: PLR0911 - one return per answer form
    """(values, shape) of the main output: ``data.ndarray`` / ``data.tensor`` or V2 ``outputs[0]``."""
    if not isinstance(answer, dict):
        return None, None
    if is_v2(protocol) or "outputs" in answer:
        outputs = answer.get("outputs") or []
        if outputs and isinstance(outputs[0], dict):
            return outputs[0].get("data"), outputs[0].get("shape")
        return None, None
    data = answer.get("data") or {}
    if "ndarray" in data:
        return data["ndarray"], shape_of(data["ndarray"])
    if isinstance(data.get("tensor"), dict):
        return data["tensor"].get("values"), data["tensor"].get("shape")
    if "strData" in answer:
        return answer["strData"], None
    if "jsonData" in answer:
        return answer["jsonData"], None
    return None, None


_MISSING = object()


def lookup(answer, path):
    """The value at a dotted path with [n] indexes (``data.ndarray[0]``, ``outputs[0].shape``), or _MISSING."""
    value = answer
    for part in _split_path(path):
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return _MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
    return value


def _split_path(path):
    parts = []
    for piece in str(path).strip(".").split("."):
        chunk = piece
        while "[" in chunk:
            head, _sep, rest = chunk.partition("[")
            if head:
                parts.append(head)
            index, _sep, chunk = rest.partition("]")
            try:
                parts.append(int(index))
            except ValueError:
                parts.append(index.strip("'\""))
        if chunk:
            parts.append(chunk)
    return parts


def _contains(actual, wanted):
    if isinstance(actual, str):
        return str(wanted) in actual
    if isinstance(actual, list):
        return wanted in actual or (isinstance(wanted, list) and all(w in actual for w in wanted))
    if isinstance(actual, dict) and isinstance(wanted, dict):
        return all(k in actual and actual[k] == v for k, v in wanted.items())
    return False


def _special(answer, key, protocol):
    values, shape = main_output(answer, protocol)
    if key == "shape":
        return shape if shape is not None else _MISSING
    if key == "output":
        return values if values is not None else _MISSING
    return lookup(answer, key)


def check_expected(answer, expected=None, expected_contains=None, protocol="seldon"):
    """[] when every expectation holds, else one text per mismatch.

    ``expected``: path -> value, compared for equality; the keys ``shape`` and ``output`` mean the shape and the
    values of the main output (``data.ndarray`` or ``outputs[0]``). ``expected_contains``: path -> value that the
    string contains, the list has (or all items of a list), or the mapping has as a subset.
    """
    problems = []
    for key, wanted in (expected or {}).items():
        actual = _special(answer, key, protocol)
        if actual is _MISSING:
            problems.append("%s is missing from the answer" % key)
        elif not _equal(actual, wanted):
            problems.append("%s is %s, expected %s" % (key, compact_json(actual, 200), compact_json(wanted, 200)))
    for key, wanted in (expected_contains or {}).items():
        actual = _special(answer, key, protocol)
        if actual is _MISSING:
            problems.append("%s is missing from the answer" % key)
        elif not _contains(actual, wanted):
            problems.append("%s is %s, which does not contain %s"
                            % (key, compact_json(actual, 200), compact_json(wanted, 200)))
    return problems


def _equal(actual, wanted):
    if actual == wanted:
        return True
    # a playbook may say "3" for 3
    return not isinstance(actual, (list, dict)) and str(actual) == str(wanted)


# -- sending ------------------------------------------------------------------------------------------------
def _read_error(exc):
    try:
        body = exc.read()
    except Exception:  # a body we cannot read is simply not shown
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return body or ""


def _parse(body):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def send(url, body, *, opener, headers=None, timeout=60, request_timeout=30, validate_certs=True,
         retry_statuses=retries.PREDICTION_RETRY_STATUSES, method="POST", clock=time.monotonic, sleep=time.sleep):
    """POST ``body`` (JSON) to ``url``, retrying while the route warms up; return a result dict.

    Retried with bounded exponential backoff until ``timeout`` seconds have passed: connection errors (refused,
    reset, DNS), request timeouts and HTTP statuses in ``retry_statuses`` (a gateway answers 404/503 until the
    route of a new deployment exists). Other HTTP errors fail at once with the server's answer. A redirect is
    never followed (it would carry the Authorization header to another host, and turn the POST into a GET):
    it fails with the Location it names.
    """
    from urllib.error import HTTPError, URLError

    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
    from ansible.module_utils.urls import SSLValidationError

    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    hdrs.update(headers or {})
    data = json.dumps(body).encode("utf-8") if body is not None else None
    start = clock()
    deadline = start + max(0, timeout)
    attempts = 0
    delays = retries.prediction_delays()  # the PREDICTION policy (retries.py)
    last = None
    while True:
        attempts += 1
        per_request = max(1, min(request_timeout, deadline - clock())) if timeout else request_timeout
        try:
            response = opener(url, data=data, headers=hdrs, method=method, validate_certs=validate_certs,
                              timeout=per_request, follow_redirects="none")
            raw = response.read()
            status = getattr(response, "status", None) or response.getcode()
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
            return {"status": status, "json": _parse(text), "body": text, "attempts": attempts,
                    "elapsed": round(clock() - start, 3), "url": url}
        except HTTPError as exc:
            if 300 <= exc.code < 400:
                raise _redirect_error(url, exc, attempts, round(clock() - start, 3)) from None
            text = _read_error(exc)
            last = "HTTP %s %s%s" % (exc.code, getattr(exc, "reason", "") or "", ": %s" % one_line(text, MESSAGE_LIMIT)
                                     if text else "")
            if exc.code not in retry_statuses:
                raise PredictError("%s answered %s" % (url, last), status=exc.code, body=text, json=_parse(text),
                                   attempts=attempts, elapsed=round(clock() - start, 3), url=url) from None
            status = exc.code
        except SSLValidationError as exc:
            raise PredictError("%s: TLS certificate validation failed (set validate_certs: false for a self-signed "
                               "gateway): %s" % (url, one_line(exc, MESSAGE_LIMIT)), attempts=attempts,
                               elapsed=round(clock() - start, 3), url=url) from None
        except (URLError, UrlsConnectionError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            last = "connection failed: %s" % one_line(reason, MESSAGE_LIMIT)
            status = None
        remaining = deadline - clock()
        if remaining <= 0.05:
            raise PredictError("no answer from %s after %d attempt(s) in %.1fs; last: %s"
                               % (url, attempts, clock() - start, last), status=status, attempts=attempts,
                               elapsed=round(clock() - start, 3), url=url)
        sleep(min(next(delays), remaining))


def _redirect_error(url, exc, attempts, elapsed):
    """Predictions never follow a redirect: the payload and the credentials stay with the URL that was given."""
    headers = getattr(exc, "headers", None) or getattr(exc, "hdrs", None) or {}
    location = headers.get("Location") if hasattr(headers, "get") else None
    return PredictError("%s answered HTTP %s, a redirect to %s; predictions do not follow redirects (the request "
                        "and its credentials are not sent elsewhere): give the final URL"
                        % (url, exc.code, one_line(location or getattr(exc, "filename", None) or "?", 300)),
                        status=exc.code, attempts=attempts, elapsed=elapsed, url=url)
