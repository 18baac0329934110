"""Fault rules with a probability (sandbox/faults.py): a share of the matching requests fails, at random."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.sandbox


def add(sandbox, **spec) -> dict:
    code, _, body = sandbox.request("POST", "/sandbox/v1/faults", json.dumps(spec).encode())
    assert code == 201, body
    return json.loads(body)


def statuses(sandbox, ns, n):
    return [sandbox.request("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] for _ in range(n)]


@pytest.fixture
def clean_faults(sandbox):
    sandbox.clear_faults()
    yield
    sandbox.clear_faults()


def test_a_share_of_requests_fails_and_a_seed_repeats_the_draws(sandbox, ns, clean_faults):
    rule = add(sandbox, path_regex=f"^/api/v1/namespaces/{ns}/configmaps$", status=503, count=-1, probability=0.3,
               seed=7)
    assert rule["probability"] == 0.3
    first = statuses(sandbox, ns, 200)
    failed = first.count(503)
    assert set(first) == {200, 503}
    assert 30 <= failed <= 90, failed  # binomial(200, 0.3): mean 60, sd 6.5
    listed = next(r for r in sandbox.faults() if r["id"] == rule["id"])
    assert listed["hits"] == failed and listed["spared"] == 200 - failed

    sandbox.clear_faults()
    add(sandbox, path_regex=f"^/api/v1/namespaces/{ns}/configmaps$", status=503, count=-1, probability=0.3, seed=7)
    assert statuses(sandbox, ns, 200) == first  # the same seed, the same requests fail


def test_a_spared_request_goes_on_to_the_next_rule_and_count_counts_faults(sandbox, ns, clean_faults):
    path = f"^/api/v1/namespaces/{ns}/configmaps$"
    add(sandbox, path_regex=path, status=500, count=-1, probability=0.5, seed=1)
    add(sandbox, path_regex=path, status=429, count=-1, retry_after=0)
    seen = statuses(sandbox, ns, 60)
    assert set(seen) == {500, 429}  # every request faulted: by the first rule or else by the second

    sandbox.clear_faults()
    add(sandbox, path_regex=path, status=503, count=5, probability=0.5, seed=3)
    seen = statuses(sandbox, ns, 80)
    assert seen.count(503) == 5  # the rule ends after 5 faults, however many it spared
    assert sandbox.faults() == []


@pytest.mark.parametrize("probability", [0, -0.1, 1.5, "often"])
def test_a_probability_outside_0_1_is_refused(sandbox, probability, clean_faults):
    code, _, body = sandbox.request("POST", "/sandbox/v1/faults",
                                    json.dumps({"path_regex": "x", "probability": probability}).encode())
    assert code == 400, body
    assert sandbox.faults() == []
