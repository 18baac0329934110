"""Pure parts of the sandbox's CronWorkflow controller (sandbox/argo/cron.py): ticks, schedule strings, the
workflow-controller Deployment's scope."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sandbox.argo.common import controller_scope
from sandbox.argo.cron import Tick, schedule_string
from sandbox.controllers.cron import CronError


def ts(*args, tz=dt.UTC):
    return dt.datetime(*args, tzinfo=tz).timestamp()


def test_every_ticks_on_whole_seconds_from_the_anchor():
    t = Tick("@every 5s", dt.UTC)
    assert t.latest(100.5, 104.9) is None
    assert t.latest(100.5, 105.0) == 105
    assert t.latest(100.5, 117.3) == 115
    assert t.following(100.5, 117.3) == 120
    assert t.following(100.5, 99.0) == 105
    assert Tick("@every 300ms", dt.UTC).every == 1      # robfig/cron: at least a second


def test_cron_latest_and_following():
    t = Tick("0 0 1 1 *", dt.UTC)
    now = ts(2026, 3, 4, 5, 6, 7)
    assert t.latest(ts(2020, 1, 1), now) == ts(2026, 1, 1)
    assert t.latest(ts(2026, 1, 1), now) is None
    assert t.following(0, now) == ts(2027, 1, 1)
    m = Tick("*/15 * * * *", dt.UTC)
    assert m.latest(ts(2020, 1, 1), now) == ts(2026, 3, 4, 5, 0)
    assert m.latest(ts(2026, 3, 4, 5, 0), now) is None


def test_timezone():
    tz = ZoneInfo("Asia/Kolkata")
    t = Tick("30 9 * * *", tz)
    now = ts(2026, 3, 4, 12, 0, tz=tz)
    assert t.latest(now - 3 * 86400, now) == ts(2026, 3, 4, 9, 30, tz=tz) == ts(2026, 3, 4, 4, 0)


@pytest.mark.parametrize("text", ["", "  ", "every day", "61 * * * *", "@every soon"])
def test_invalid(text):
    with pytest.raises(CronError):
        Tick(text, dt.UTC)


def test_schedule_string():
    assert schedule_string({"schedule": "* * * * *"}) == "* * * * *"
    assert schedule_string({"schedule": "* * * * *", "timezone": "UTC"}) == "CRON_TZ=UTC * * * * *"
    assert schedule_string({"schedules": ["@hourly", "5 * * * *"], "timezone": "Europe/Paris"}) == \
        "CRON_TZ=Europe/Paris @hourly,CRON_TZ=Europe/Paris 5 * * * *"


def deploy(args, ns="argo"):
    return {"metadata": {"name": "workflow-controller", "namespace": ns},
            "spec": {"template": {"spec": {"containers": [{"name": "workflow-controller", "args": args}]}}}}


@pytest.mark.parametrize(("args", "scope"), [
    ([], None),
    (["--executor-image", "x", "--managed-namespace", "ml"], None),    # ignored without --namespaced
    (["--namespaced"], "argo"),
    (["--namespaced", "--managed-namespace", "ml"], "ml"),
    (["--namespaced=true", "--managed-namespace=ml"], "ml"),
    (["--namespaced=false", "--managed-namespace=ml"], None),
])
def test_controller_scope(args, scope):
    assert controller_scope(deploy(args)) == scope
