"""What the kubelet's simulated containers do (pods no runner runs): pull their image from the sandbox's registry
(`sandbox.registry`), run what their command says for as long as it says, exit with its code and restart under the
pod's restartPolicy with the kubelet's back-off; probes decide Ready and liveness. The table of what each command
does is in sandbox/controllers/README.md ("What simulated containers do").

Times: the image-pull and crash-loop back-offs (10 s doubling up to 300 s) and failing probes' delays are multiplied
by the kubelet setting ``backoff_scale`` (env ``MLOPS_SANDBOX_BACKOFF_SCALE``, default 1: as a real cluster).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .base import now
from .runtime import ContainerStatus, RunStatus

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
HOLD = 1.0                     # seconds ErrImagePull / a terminated state shows before the back-off state
SHELLS = {"sh", "bash", "ash", "dash"}
RESTARTS = {"Always": lambda code: True, "OnFailure": lambda code: code != 0, "Never": lambda code: False}


@dataclass
class Behaviour:
    duration: float | None     # seconds it runs; None: until it is stopped
    exit_code: int = 0


def _script(text: str) -> Behaviour | None:
    """A shell script of ``sleep N``, ``exit N``, ``true``, ``false``, ``echo ...`` joined by ``;``/``&&``/newlines;
    None for anything else."""
    total, code = 0.0, 0
    for statement in re.split(r"\s*(?:;|&&|\n)\s*", text.strip()):
        words = statement.split()
        if not words:
            continue
        name = words[0].rsplit("/", 1)[-1]
        try:
            if name == "exit":
                return Behaviour(total, int(words[1]) if len(words) > 1 else code)
            if name == "sleep":
                if words[1] in ("infinity", "inf"):
                    return Behaviour(None)
                total, code = total + float(words[1].rstrip("s")), 0
            elif name in ("true", ":", "echo"):
                code = 0
            elif name == "false":
                code = 1
            else:
                return None
        except (IndexError, ValueError):
            return None
    return Behaviour(total, code)


def command_behaviour(argv: list[str]) -> Behaviour | None:
    """What a command line does, or None when it is not one the sandbox knows."""
    if not argv:
        return None
    name = str(argv[0]).rsplit("/", 1)[-1]
    if name in SHELLS and len(argv) >= 3 and re.fullmatch(r"-[a-z]*c", str(argv[1])):
        return _script(str(argv[2]))
    if name in ("sleep", "true", "false") and all(" " not in str(a) for a in argv):
        return _script(" ".join(str(a) for a in argv))
    return None


def behaviour(container: dict, pod: dict, run_duration: float) -> Behaviour:
    """The container's behaviour: its command's, else the default (restartPolicy Always: runs until stopped; else
    runs `run_duration` then exits 0); for pods that do not restart always, the annotations
    ``sandbox.local/duration`` and ``sandbox.local/exit-code`` override both."""
    ann = pod["metadata"].get("annotations") or {}
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    b = command_behaviour(argv)
    if pod["spec"].get("restartPolicy", "Always") == "Always":
        return b or Behaviour(None)
    b = b or Behaviour(run_duration)
    try:
        duration = float(ann["sandbox.local/duration"]) if "sandbox.local/duration" in ann else b.duration
    except ValueError:
        duration = b.duration
    try:
        code = int(ann.get("sandbox.local/exit-code", b.exit_code))
    except ValueError:
        code = 1
    return Behaviour(duration, code)


def probe_passes(probe: dict | None, ann: dict, key: str) -> bool:
    """An exec probe passes when its command exits 0 (an unknown command passes); httpGet, tcpSocket and grpc probes
    pass unless the pod's annotation `key` (``sandbox.local/ready``, ``sandbox.local/live``) is "false"."""
    if not probe:
        return ann.get(key) != "false" if key == "sandbox.local/ready" else True
    if ann.get(key) == "false":
        return False
    if isinstance(probe.get("exec"), dict):
        b = command_behaviour(list(probe["exec"].get("command") or []))
        return b is None or (b.duration is not None and b.exit_code == 0)
    return True


def probe_fails_after(probe: dict) -> float:
    """Seconds from a container's start until a failing probe has failed failureThreshold times."""
    return float(probe.get("initialDelaySeconds") or 0) + float(probe.get("periodSeconds") or 10) * float(
        probe.get("failureThreshold") or 3)


@dataclass
class SimContainer:
    spec: dict
    behaviour: Behaviour
    pulled: bool               # the registry has its image
    never_pull: bool = False   # imagePullPolicy Never and not present
    state: str = "creating"    # creating | pulling | running | terminated | backoff | never
    until: float | None = None
    restarts: int = 0
    backoff: float = BACKOFF_START
    pull_backoff: float = BACKOFF_START
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    started_at: str = ""
    last: dict = field(default_factory=dict)
    ran: bool = False
    killed: bool = False
    ignores_sigterm: bool = False   # its PID 1 is a shell or sleep: SIGTERM does not end it


class SimPod:
    """The simulated containers of one pod. `tick` advances them to time `t`; it returns the pod's RunStatus, the
    events to record ``(type, reason, message)`` and the seconds until the next change (None: none due)."""

    def __init__(self, pod: dict, t0: float, ready_delay: float, run_duration: float, scale: float,
                 holds: callable):
        self.pod = pod
        m = pod["metadata"]
        self.ann = m.get("annotations") or {}
        self.ident = f"{m['name']}_{m.get('namespace', '')}({m.get('uid', '')})"
        self.policy = pod["spec"].get("restartPolicy", "Always")
        self.scale = max(0.0, scale)
        self.cons = []
        for c in pod["spec"].get("containers") or []:
            held = holds(c.get("image", ""))
            argv = list(c.get("command") or []) + list(c.get("args") or [])
            self.cons.append(SimContainer(c, behaviour(c, pod, run_duration), held,
                                          never_pull=not held and c.get("imagePullPolicy") == "Never",
                                          until=t0 + ready_delay, ignores_sigterm=command_behaviour(argv) is not None))

    def tick(self, t: float) -> tuple[RunStatus, list[tuple[str, str, str]], float | None]:
        events: list[tuple[str, str, str]] = []
        for c in self.cons:
            while c.until is not None and t >= c.until:
                self._advance(c, c.until, events)
        return self._status(), events, min((c.until - t for c in self.cons if c.until is not None), default=None)

    def on_sigterm(self, t: float, grace: float) -> tuple[float, dict[str, int]]:
        """Graceful deletion at `t`: the seconds until every container has stopped and their exit codes. A shell or
        ``sleep`` as PID 1 ignores SIGTERM: it runs on until it ends (its code) or the grace period does (SIGKILL:
        137); any other process stops at once (0)."""
        self.tick(t)
        wait, codes = 0.0, {}
        for c in self.cons:
            if c.state != "running":
                continue
            left = c.until - t if c.until is not None and not c.killed else float("inf")
            if not c.ignores_sigterm:
                codes[c.spec["name"]] = 0
            elif left <= grace:
                wait, codes[c.spec["name"]] = max(wait, left), c.exit_code
            else:
                wait, codes[c.spec["name"]] = max(wait, grace), 137
        return wait, codes

    # -- transitions --
    def _advance(self, c: SimContainer, t: float, events: list) -> None:
        image, name = c.spec.get("image", ""), c.spec["name"]
        if c.state in ("creating", "backoff") and c.never_pull:
            msg = f'Container image "{image}" is not present with pull policy of Never'
            c.state, c.until, c.reason, c.message = "never", None, "ErrImageNeverPull", msg
            events.append(("Warning", "ErrImageNeverPull", msg))
            events.append(("Warning", "Failed", "Error: ErrImageNeverPull"))
        elif c.state in ("creating", "pulling") and not c.pulled:
            if c.state == "creating" or c.reason == "ImagePullBackOff":   # a pull attempt: ErrImagePull
                from ..registry import pull_error
                msg = pull_error(image)
                c.state, c.reason, c.message, c.until = "pulling", "ErrImagePull", msg, t + HOLD
                events += [("Normal", "Pulling", f'Pulling image "{image}"'),
                           ("Warning", "Failed", f'Failed to pull image "{image}": {msg}'),
                           ("Warning", "Failed", "Error: ErrImagePull")]
            else:                                                          # then ImagePullBackOff
                delay = c.pull_backoff * self.scale
                c.pull_backoff = min(c.pull_backoff * 2, BACKOFF_MAX)
                c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {c.message}'
                c.until = t + max(0.0, delay - HOLD * min(1.0, self.scale))
                events += [("Normal", "BackOff", f'Back-off pulling image "{image}"'),
                           ("Warning", "Failed", "Error: ImagePullBackOff")]
        elif c.state in ("creating", "backoff"):
            if c.state == "backoff":
                c.restarts += 1
            elif c.spec.get("imagePullPolicy") == "Always":
                events += [("Normal", "Pulling", f'Pulling image "{image}"'),
                           ("Normal", "Pulled", f'Successfully pulled image "{image}" in 512ms (512ms including '
                                                'waiting)')]
            else:
                events.append(("Normal", "Pulled", f'Container image "{image}" already present on machine'))
            events += [("Normal", "Created", f"Created container: {name}"),
                       ("Normal", "Started", f"Started container {name}")]
            c.state, c.ran, c.started_at, c.reason, c.message = "running", True, now(), "", ""
            ends = [] if c.behaviour.duration is None else [(t + c.behaviour.duration, c.behaviour.exit_code, False)]
            live = c.spec.get("livenessProbe")
            if live and not probe_passes(live, self.ann, "sandbox.local/live"):
                ends.append((t + probe_fails_after(live) * self.scale, 137, True))
            c.until, c.exit_code, c.killed = min(ends, default=(None, None, False))
        elif c.state == "running":
            if c.killed:   # by its failing liveness probe
                events += [("Warning", "Unhealthy", "Liveness probe failed: "),
                           ("Normal", "Killing", f"Container {name} failed liveness probe, will be restarted")]
            c.state, c.reason = "terminated", "Completed" if c.exit_code == 0 else "Error"
            c.last = {"exitCode": c.exit_code, "reason": c.reason, "startedAt": c.started_at, "finishedAt": now()}
            c.until = t + min(HOLD, c.backoff * self.scale) if RESTARTS.get(self.policy, RESTARTS["Always"])(
                c.exit_code) else None
        elif c.state == "terminated":   # restarting: CrashLoopBackOff first
            delay = c.backoff
            c.backoff = min(c.backoff * 2, BACKOFF_MAX)
            c.state, c.reason = "backoff", "CrashLoopBackOff"
            c.message = f"back-off {int(delay)}s restarting failed container={name} pod={self.ident}"
            c.until = t + max(0.0, delay * self.scale - min(HOLD, delay * self.scale))
            events.append(("Warning", "BackOff", f"Back-off restarting failed container {name} in pod {self.ident}"))

    # -- status --
    def _status(self) -> RunStatus:
        if any(c.state == "creating" for c in self.cons):
            return RunStatus("Pending", False, reason="ContainerCreating")
        out = []
        for c in self.cons:
            last = {"terminated": c.last} if c.last and c.state != "terminated" else None
            if c.state == "running":
                ready = probe_passes(c.spec.get("readinessProbe"), self.ann, "sandbox.local/ready")
                out.append(ContainerStatus(c.spec["name"], "running", ready, restart_count=c.restarts,
                                           last_state=last))
            elif c.state == "terminated":
                out.append(ContainerStatus(c.spec["name"], "terminated", False, c.exit_code, c.reason,
                                           restart_count=c.restarts))
            else:
                out.append(ContainerStatus(c.spec["name"], "waiting", False, None, c.reason, c.message,
                                           restart_count=c.restarts, last_state=last))
        if all(c.state == "terminated" and c.until is None for c in self.cons):
            phase = "Succeeded" if all(c.exit_code == 0 for c in self.cons) else "Failed"
        elif not any(c.ran for c in self.cons):
            phase = "Pending"
        else:
            phase = "Running"
        return RunStatus(phase, phase == "Running" and all(cs.ready for cs in out), containers=out)
