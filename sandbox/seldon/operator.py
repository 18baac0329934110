"""The SeldonDeployment controller (Seldon Core v1 operator behaviour).

It acts only while an operator Deployment exists and is Available (a Deployment labelled like the real
controller manager: ``control-plane: seldon-controller-manager``, ``app: seldon``,
``app.kubernetes.io/name: seldon-core-operator``, or named ``seldon-controller-manager``), honouring that
Deployment's watch scope (``WATCH_NAMESPACE`` / ``--namespace``, ``CONTROLLER_ID``) and reading ``seldon-config``
from its namespace. Without one, SeldonDeployments get no status, as on a cluster without the operator.

Per SeldonDeployment it creates (owned, so deletion garbage-collects them) the Deployments and Services of
`sandbox.seldon.spec`, updates them when the spec changes, deletes the ones no longer wanted, and writes
``status`` (state Creating/Available/Failed, description, deploymentStatus, serviceStatus, address, replicas,
observedGeneration) from the Deployments' status and their pods' container states, with Events
(``CreateResourceSuccess``, ``UpdateResourceSuccess``, ``Updated``, ``InternalError``).
"""

from __future__ import annotations

import copy
import logging
import os

from ..controllers.base import PODS, Controller, condition, controller_of, controller_ref, owned_by, prune_nulls
from ..machinery.errors import ApiError
from . import spec as S

log = logging.getLogger("sandbox.seldon")
DEPLOYS = ("apps", "deployments")
RSS = ("apps", "replicasets")
SERVICES = ("", "services")
CONFIGMAPS = ("", "configmaps")
HASH_LABEL = "pod-template-hash"
REV = "deployment.kubernetes.io/revision"
FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff")


def is_operator_deployment(d: dict) -> bool:
    m = d["metadata"]
    labels = m.get("labels") or {}
    return (m.get("name") == "seldon-controller-manager"
            or labels.get("control-plane") == "seldon-controller-manager"
            or labels.get("app.kubernetes.io/name") == "seldon-core-operator"
            or labels.get("app") == "seldon")


def deployment_available(d: dict) -> bool:
    c = condition(d.get("status") or {}, "Available")
    return bool(c and c.get("status") == "True") and int((d.get("status") or {}).get("availableReplicas") or 0) > 0


def derivative(want, have) -> bool:
    """equality.Semantic.DeepDerivative: every field set in `want` equals the one in `have`."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return not want
        return all(derivative(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return not want and not have
        return all(derivative(a, b) for a, b in zip(want, have, strict=True))
    if want is None or want == "" or want is False or want == 0:
        return have in (None, "", False, 0) or have == want
    return want == have or str(want) == str(have)


def _template_key(tpl: dict) -> dict:
    t = prune_nulls(copy.deepcopy(tpl or {}))
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


class SeldonOperator(Controller):
    name = "seldon-operator"
    primary = S.SDEPS
    watch_keys = (DEPLOYS, PODS, SERVICES, CONFIGMAPS)
    user = "system:serviceaccount:seldon-system:seldon-manager"
    manager = "manager"
    component = "seldon-controller-manager"
    settings = ("delay", "time_scale")
    resync = 30.0

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self.time_scale = float(os.environ.get("SANDBOX_SELDON_TIME_SCALE", "1.0"))
        self._states: dict[tuple[str, str], str] = {}

    # -- which objects concern which SeldonDeployment --
    def keys_for(self, ev):
        m = ev.obj["metadata"]
        ns = m.get("namespace", "")
        if ev.key == S.SDEPS:
            yield ns, m["name"]
            return
        if ev.key == DEPLOYS and (is_operator_deployment(ev.obj) or (ev.old is not None and
                                                                     is_operator_deployment(ev.old))):
            was = ev.old is not None and deployment_available(ev.old)
            now_ = ev.type != "DELETED" and deployment_available(ev.obj)
            if was != now_ or ev.type != "MODIFIED":
                yield from self._all()
            return
        if ev.key == CONFIGMAPS:
            if m["name"] == "seldon-config":
                yield from self._all()
            return
        ref = controller_of(ev.obj)
        if ref and ref.get("kind") == "SeldonDeployment":
            yield ns, ref["name"]
            return
        sid = (m.get("labels") or {}).get(S.LABEL_SELDON_ID)
        if sid and ev.key in (PODS, DEPLOYS):
            yield ns, sid

    def _all(self):
        for o in self.client.list(S.SDEPS):
            yield o["metadata"].get("namespace", ""), o["metadata"]["name"]

    # -- the operator Deployment(s) --
    def operators(self) -> list[S.OperatorConfig]:
        out = []
        for d in self.client.list(DEPLOYS):
            if is_operator_deployment(d) and deployment_available(d) and not d["metadata"].get("deletionTimestamp"):
                cm = self.client.get(CONFIGMAPS, d["metadata"].get("namespace", ""), "seldon-config")
                out.append(S.OperatorConfig.from_objects(d, cm))
        out.sort(key=lambda c: (c.namespace, c.name))
        return out

    def operator_for(self, sdep: dict) -> S.OperatorConfig | None:
        return next((c for c in self.operators() if c.watches(sdep)), None)

    def config_for_namespace(self, ns: str) -> S.OperatorConfig | None:
        ops = self.operators()
        return next((c for c in ops if not c.watch_namespace or c.watch_namespace == ns), ops[0] if ops else None)

    # -- reconcile --
    def reconcile(self, ns: str, name: str):
        sdep = self.client.get(S.SDEPS, ns, name)
        if sdep is None:
            self._states.pop((ns, name), None)
            return None
        if sdep["metadata"].get("deletionTimestamp"):
            return None
        cfg = self.operator_for(sdep)
        if cfg is None:
            return None
        try:
            desired = S.build(sdep, cfg)
        except (S.SpecError, KeyError, TypeError, ValueError) as e:
            self._failed(sdep, str(e) if isinstance(e, S.SpecError) else f"invalid SeldonDeployment: {e}")
            return None
        uid = sdep["metadata"]["uid"]
        owner = controller_ref(sdep)
        try:
            written = [self._apply(DEPLOYS, "Deployment", sdep, d, owner) for d in desired.deployments]
            # as upstream's createServices(all=false): the Services that carry Ambassador Mappings are created or
            # changed only once every Deployment is ready, so a new predictor gets no traffic before it can answer,
            # and what is no longer wanted goes then too (completeServiceCreation)
            ready = not any(written) and all(self._deployment_ready(ns, d) for d in desired.deployments)
            for s in desired.services:
                if ready or S.AMBASSADOR_ANNOTATION not in (s["metadata"].get("annotations") or {}):
                    self._apply(SERVICES, "Service", sdep, s, owner)
        except S.SpecError as e:
            self._failed(sdep, str(e))
            return None
        if not ready:
            return self._status(sdep, desired)
        want_d = {d["metadata"]["name"] for d in desired.deployments}
        want_s = {s["metadata"]["name"] for s in desired.services}
        # Services first: a predictor that goes loses its Mapping before its pods stop answering
        for key, want in ((SERVICES, want_s), (DEPLOYS, want_d)):
            for o in self.client.list(key, ns):
                if owned_by(o, uid) and o["metadata"]["name"] not in want and \
                        not o["metadata"].get("deletionTimestamp"):
                    self.client.delete(key, ns, o["metadata"]["name"], uid=o["metadata"]["uid"])
                    self.recorder.normal(sdep, "DeleteResourceSuccess",
                                         f'Deleted {"Deployment" if key == DEPLOYS else "Service"} '
                                         f'"{o["metadata"]["name"]}"')
        return self._status(sdep, desired)

    def _deployment_ready(self, ns: str, d: dict) -> bool:
        """createDeployments' readiness: the Deployment has ready replicas and none unavailable."""
        cur = self.client.get(DEPLOYS, ns, d["metadata"]["name"])
        st = (cur or {}).get("status") or {}
        return cur is not None and int(st.get("readyReplicas") or 0) > 0 and not int(st.get("unavailableReplicas") or 0)

    def _apply(self, key, kind: str, sdep: dict, body: dict, owner: dict) -> bool:
        """Create or update one object; whether it wrote."""
        ns = sdep["metadata"]["namespace"]
        name = body["metadata"]["name"]
        body = copy.deepcopy(body)
        body["metadata"]["ownerReferences"] = [owner]
        cur = self.client.get(key, ns, name)
        if cur is None:
            try:
                self.client.create(key, ns, body)
            except ApiError as e:
                if e.code == 409:
                    return False
                raise S.SpecError(f"cannot create {kind} {name}: {e}") from e
            self.recorder.normal(sdep, "CreateResourceSuccess", f'Created {kind} "{name}"')
            return True
        if not owned_by(cur, sdep["metadata"]["uid"]):
            raise S.SpecError(f'{kind} "{name}" already exists and is not managed by SeldonDeployment '
                              f'"{sdep["metadata"]["name"]}"')
        same = derivative(body["spec"], cur.get("spec")) and \
            derivative(body["metadata"].get("labels") or {}, cur["metadata"].get("labels") or {}) and \
            (body["metadata"].get("annotations") or {}) == {
                k: v for k, v in (cur["metadata"].get("annotations") or {}).items()
                if k in (body["metadata"].get("annotations") or {}) or k == S.AMBASSADOR_ANNOTATION}
        if same:
            return False

        def change(o):
            new_spec = copy.deepcopy(body["spec"])
            if key == SERVICES:
                for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
                    if f in o["spec"] and f not in new_spec:
                        new_spec[f] = o["spec"][f]
            o["spec"] = new_spec
            o["metadata"]["labels"] = dict(o["metadata"].get("labels") or {}, **body["metadata"].get("labels", {}))
            ann = {k: v for k, v in (o["metadata"].get("annotations") or {}).items()
                   if k != S.AMBASSADOR_ANNOTATION}
            ann.update(body["metadata"].get("annotations") or {})
            o["metadata"]["annotations"] = ann
            if not ann:
                o["metadata"].pop("annotations")
        if self.client.mutate(key, ns, name, change) is not None:
            self.recorder.normal(sdep, "UpdateResourceSuccess", f'Updated {kind} "{name}"')
            return True
        return False

    # -- status --
    def _current_pods(self, dep: dict) -> list[dict]:
        ns = dep["metadata"]["namespace"]
        want = _template_key(dep["spec"].get("template"))
        rss = [rs for rs in self.client.list(RSS, ns) if owned_by(rs, dep["metadata"]["uid"])]
        rs = next((r for r in rss if _template_key(r["spec"].get("template")) == want), None)
        if rs is None:
            return []
        return [p for p in self.client.list(PODS, ns) if owned_by(p, rs["metadata"]["uid"])
                and not p["metadata"].get("deletionTimestamp")]

    @staticmethod
    def _pod_problem(pod: dict) -> str | None:
        st = pod.get("status") or {}
        for group in ("initContainerStatuses", "containerStatuses"):
            for cs in st.get(group) or []:
                state = cs.get("state") or {}
                last = (cs.get("lastState") or {}).get("terminated") or {}
                term = state.get("terminated") or {}
                waiting = state.get("waiting") or {}
                if term and int(term.get("exitCode") or 0) != 0:
                    return term.get("message") or f"container {cs.get('name')} terminated with exit code " \
                                                  f"{term.get('exitCode')} ({term.get('reason', 'Error')})"
                if waiting.get("reason") in FATAL_WAITING:
                    if waiting.get("reason") == "CrashLoopBackOff" and last.get("message"):
                        return last["message"]
                    return waiting.get("message") or f"container {cs.get('name')}: {waiting.get('reason')}"
                if last and not cs.get("ready") and (last.get("message") or int(last.get("exitCode") or 0)) \
                        and "running" in state:
                    return last.get("message") or f"container {cs.get('name')} restarted after exit code " \
                                                  f"{last.get('exitCode')}"
        return None

    def _status(self, sdep: dict, desired: S.Desired):
        ns = sdep["metadata"]["namespace"]
        dep_status = {}
        all_ready = True
        failure = None
        replicas = None
        for d in desired.deployments:
            dname = d["metadata"]["name"]
            cur = self.client.get(DEPLOYS, ns, dname)
            st = (cur or {}).get("status") or {}
            want = int(((cur or d).get("spec") or {}).get("replicas", 1))
            entry = {"replicas": int(st.get("replicas") or 0), "availableReplicas": int(st.get("availableReplicas")
                                                                                          or 0)}
            complete = cur is not None and \
                int(st.get("observedGeneration") or 0) >= int(cur["metadata"].get("generation") or 1) and \
                int(st.get("updatedReplicas") or 0) >= want and int(st.get("availableReplicas") or 0) >= want and \
                int(st.get("replicas") or 0) <= want and not int(st.get("unavailableReplicas") or 0)
            problem = None
            if cur is not None:
                for pod in self._current_pods(cur):
                    problem = self._pod_problem(pod)
                    if problem:
                        break
            if problem and not complete:
                entry["status"] = "Failed"
                entry["description"] = problem
                failure = failure or problem
            else:
                entry["status"] = "Available" if complete else "Creating"
            all_ready = all_ready and complete
            if replicas is None:
                replicas = entry["replicas"]
            dep_status[dname] = entry
        if failure:
            state, description = "Failed", failure
        elif all_ready:
            state, description = "Available", ""
        else:
            state, description = "Creating", ""
        status = {"state": state, "deploymentStatus": dep_status, "serviceStatus": desired.service_status,
                  "address": {"url": desired.address}, "replicas": replicas or 0,
                  "observedGeneration": int(sdep["metadata"].get("generation") or 1)}
        if description:
            status["description"] = description
        self._write_status(sdep, status)

    def _failed(self, sdep: dict, description: str) -> None:
        st = copy.deepcopy(sdep.get("status") or {})
        st.update({"state": "Failed", "description": description,
                   "observedGeneration": int(sdep["metadata"].get("generation") or 1)})
        self._write_status(sdep, st)

    def _write_status(self, sdep: dict, status: dict) -> None:
        ns, name = sdep["metadata"]["namespace"], sdep["metadata"]["name"]
        uid = sdep["metadata"]["uid"]

        def change(o):
            if o["metadata"]["uid"] != uid:
                return False
            o["status"] = status
            return None
        out = self.client.mutate(S.SDEPS, ns, name, change, "status")
        if out is None:
            return
        prev = self._states.get((ns, name))
        key = status["state"] + "|" + status.get("description", "")
        if prev != key:
            self._states[(ns, name)] = key
            if status["state"] == "Failed":
                self.recorder.warning(out, "InternalError", status.get("description") or "failed")
            self.recorder.normal(out, "Updated", f'Updated SeldonDeployment "{name}"')
