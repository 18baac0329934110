"""Optimistic concurrency under contention: no lost updates, conflicts reported as 409."""

from __future__ import annotations

import threading

import pytest
from sbx import call

pytestmark = pytest.mark.sandbox


def test_twenty_clients_read_modify_write(sandbox, ns):
    clients, per_client = 20, 5
    path = f"/api/v1/namespaces/{ns}/configmaps/counter"
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps",
                {"metadata": {"name": "counter"}, "data": {"n": "0"}})[0] == 201
    barrier = threading.Barrier(clients)
    conflicts = [0] * clients
    errors = []

    def worker(i):
        first = True
        done = 0
        while done < per_client:
            code, obj = call(sandbox, "GET", path)
            if first:  # everyone holds the same resourceVersion before the first write
                barrier.wait(30)
                first = False
            obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
            code, body = call(sandbox, "PUT", path, obj)
            if code == 200:
                done += 1
            elif code == 409:
                assert body["reason"] == "Conflict"
                conflicts[i] += 1
            else:
                errors.append((code, body))
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert call(sandbox, "GET", path)[1]["data"]["n"] == str(clients * per_client)
    assert sum(conflicts) >= clients - 1
