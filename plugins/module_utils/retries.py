# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's retry policies: all three are documented here, and each is named where it is used.

``K8S_API`` (client.py: ``Transport(settings, timeouts, retries.k8s_api_retry())``)
    Every request to the Kubernetes API, retried on the connection pool (http_pool.py): connection failures and
    HTTP 429/500/502/503/504 up to 5 times (reads of a half-received answer twice), no pause before the first
    retry, then 1, 2, 4 s ... up to 10 s, a ``Retry-After`` header (413, 429, 503) honoured up to 30 s. A
    certificate the CA does not vouch for is not retried. A connection that could not be made is retried for any
    method (nothing was sent); statuses and lost answers only for idempotent methods: GET, HEAD, PUT, DELETE,
    OPTIONS and PATCH (every PATCH this collection sends is a server-side apply); never POST (a create with
    generateName would make a second object). Redirects are not followed.

``S3`` (s3.py: ``Config(retries=retries.s3_retry_config())``)
    Every S3 request, retried by botocore's ``standard`` mode: 5 attempts in all (throttling, 5xx, connection
    errors), botocore's own jittered backoff.

``PREDICTION`` (predict.py: ``send(..., retry_statuses=retries.PREDICTION_RETRY_STATUSES)``)
    A prediction request while a new deployment's route warms up: connection errors, request timeouts and HTTP
    404/502/503/504 are tried again until the task's ``timeout``, waiting 0.5 s, then twice as long each time,
    at most 5 s between attempts. Any other answer is final.

Not retries: the waits of waiter.py watch an object until their deadline, opening the watch again when the
server closes it (after a pause of 0.5 s when it closed at once, 1 s after a dropped connection).
"""

from __future__ import annotations

# -- K8S_API ------------------------------------------------------------------------------------------------
K8S_API_RETRIES = 5
K8S_API_READ_RETRIES = 2
K8S_API_BACKOFF = 0.5
K8S_API_BACKOFF_MAX = 10
K8S_API_RETRY_AFTER_MAX = 30
K8S_API_RETRY_STATUSES = (429, 500, 502, 503, 504)
K8S_API_RETRY_METHODS = ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")

# -- S3 -----------------------------------------------------------------------------------------------------
S3_RETRY_CONFIG = {"mode": "standard", "total_max_attempts": 5}  # first try + up to 4 retries

# -- PREDICTION ---------------------------------------------------------------------------------------------
PREDICTION_RETRY_STATUSES = (404, 502, 503, 504)
PREDICTION_BACKOFF_START = 0.5
PREDICTION_BACKOFF_MAX = 5.0


def k8s_api_retry(sleep=None):
    """The K8S_API policy as an ``http_pool.Retry`` for the client's connection pool."""
    from ansible_collections.mlops.k8s.plugins.module_utils.http_pool import Retry

    return Retry(
        total=K8S_API_RETRIES,
        connect=K8S_API_RETRIES,
        read=K8S_API_READ_RETRIES,
        status=K8S_API_RETRIES,
        statuses=K8S_API_RETRY_STATUSES,
        methods=K8S_API_RETRY_METHODS,
        backoff=K8S_API_BACKOFF,
        backoff_max=K8S_API_BACKOFF_MAX,
        retry_after_max=K8S_API_RETRY_AFTER_MAX,
        **({"sleep": sleep} if sleep else {}),
    )


def s3_retry_config():
    """The S3 policy as botocore's ``Config(retries=...)`` (a fresh copy)."""
    return dict(S3_RETRY_CONFIG)


def prediction_delays():
    """The PREDICTION policy's pauses between attempts: 0.5, 1, 2, 4, 5, 5, ... seconds."""
    delay = PREDICTION_BACKOFF_START
    while True:
        yield delay
        delay = min(PREDICTION_BACKOFF_MAX, delay * 2)
