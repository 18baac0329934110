"""A deploy killed at 10 points, then run again: the end state is the intended one, nothing duplicated or orphaned.

playbooks/deploy_model.yml is SIGKILLed (its whole process group: ansible-playbook and the module it is running)
at 10 points of a deploy: 10 of its tasks (the ones that write, and a seeded random choice among the others, counted
on a full deploy of another model in another namespace first), each kill a random 0-2 s after that task started, so
it lands inside
the task (an upload, an apply, the wait for the SeldonDeployment, ...). The points go forward: each run starts from
what the killed ones left and is killed further on. Then one run to the end, and a check
of everything a deploy makes: the SeldonDeployments, their Deployments, ReplicaSets and pods (one each), the
storage Secret, the uploaded objects (the same files as the clean deploy, no multipart upload left open) and no
process left behind; a last run is changed=0 and writes nothing.
"""

from __future__ import annotations

import random
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from deploy_harness import DEPLOY, Playbook, base_env, install_platform, inventory, ok, run, train

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.timeout(1500),
              pytest.mark.flow("a deploy killed at ten points and run again: the playbook's own recovery; the real "
                               "server judges each step's zero-write re-run in the other tests")]
NAMESPACE = "interrupt-%s" % uuid.uuid4().hex[:6]
PROBE_NAMESPACE = NAMESPACE + "-probe"
# the tasks that write: always among the kill points (the namespace and its Secret, the upload, the apply + wait)
WRITING_TASKS = ("Create or update namespace", "Create or update storage secrets", "Upload the model artifacts",
                 "Apply the SeldonDeployment")
BUCKET = "interrupt-it"
POINTS = 10


def deploy_vars(model, name, namespace=NAMESPACE):
    return {"deploy_model_namespace": namespace, "deploy_model_bucket": BUCKET, "deploy_model_name": name,
            "deploy_model_dir": str(model), "deploy_model_wait_timeout": 240}


def s3_client(sandbox):
    env = sandbox.env
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"],
                        config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 2}))


def keys(s3, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    return sorted(o["Key"][len(prefix) + 1:] for page in pages for o in page.get("Contents", []))


def test_deploy_killed_at_ten_points_then_rerun(sandbox, collections_path, tmp_path):
    env = base_env(sandbox, collections_path)
    install_platform(sandbox, env, tmp_path)
    model = train(tmp_path / "iris")

    # a whole deploy of another model: its tasks (in order), and what a clean deploy leaves
    probe = ok(run(env, tmp_path, DEPLOY, timeout=420, extra_vars=deploy_vars(model, "probe", PROBE_NAMESPACE),
                   name="probe"))
    tasks = [line for line in probe.output.splitlines() if line.startswith("TASK [")]
    assert len(tasks) > POINTS, tasks
    rng = random.Random(15)
    writing = {i for i, task in enumerate(tasks, 1) if any(w in task for w in WRITING_TASKS)}
    assert len(writing) == len(WRITING_TASKS), tasks
    others = sorted(set(range(1, len(tasks) + 1)) - writing)
    points = sorted(writing | set(rng.sample(others, POINTS - len(writing))))

    kills = []
    for i, point in enumerate(points):
        mark = sandbox.audit_mark()
        log = tmp_path / ("killed-%d.log" % i)
        book = Playbook(env, log).start(DEPLOY, extra_vars=deploy_vars(model, "iris"))
        delay = rng.uniform(0, 2.0)
        reached = None
        while book.running() and time.monotonic() < book.started + 300:
            seen = sum(line.startswith("TASK [") for line in log.read_text(errors="replace").splitlines())
            if seen >= point and reached is None:
                reached = time.monotonic()
            if reached is not None and time.monotonic() >= reached + delay:
                break
            time.sleep(0.05)
        finished = not book.running()
        done = book.kill()
        # nothing of the killed run lives on: its process group empties (once init has reaped the module processes)
        assert book.group_gone(), "processes of the killed playbook outlived it: %s" % book.proc.pid
        kills.append({"task": point, "name": tasks[point - 1][6:].split("]")[0], "delay": round(delay, 1),
                      "seconds": round(done.seconds, 1), "writes": len(sandbox.writes(mark)), "finished": finished})
    print("\nkill points: %s" % "\n".join(map(str, kills)))  # noqa: T201
    assert sum(not k["finished"] for k in kills) >= POINTS - 1, kills  # the kills landed inside runs

    final = ok(run(env, tmp_path, DEPLOY, timeout=420, extra_vars=deploy_vars(model, "iris"), name="final"))
    assert "Smoke prediction" in final.output

    # the end state is the clean deploy's: one SeldonDeployment with one Deployment, one ReplicaSet, one pod; one
    # storage Secret; the same files uploaded
    state = inventory(sandbox, NAMESPACE)
    clean = inventory(sandbox, PROBE_NAMESPACE)
    assert [n for n, _uid in state["SeldonDeployment"]] == ["iris"], state
    for kind in ("Deployment", "ReplicaSet", "Pod", "Service", "Secret"):
        assert len(state[kind]) == len(clean[kind]), (kind, state[kind], clean[kind])
    for kind in ("Deployment", "ReplicaSet", "Pod"):
        assert len(state[kind]) == 1 and state[kind][0][0].startswith("iris-"), (kind, state[kind])
    assert [n for n, _uid in state["Secret"] if n == "s3-model-secret"] == ["s3-model-secret"]
    s3 = s3_client(sandbox)
    assert keys(s3, "%s/iris" % NAMESPACE) == keys(s3, "%s/probe" % PROBE_NAMESPACE) != []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    # and it is stable: a run after all that changes nothing
    mark = sandbox.audit_mark()
    again = ok(run(env, tmp_path, DEPLOY, timeout=420, extra_vars=deploy_vars(model, "iris"), name="again"))
    assert again.recap().get("changed") == 0, again.output[-3000:]
    assert sandbox.writes(mark) == []
    assert inventory(sandbox, NAMESPACE) == state
