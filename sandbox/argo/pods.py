"""The pods of a workflow's container/script/resource nodes: building and creating them, and turning their state
into the node's phase (mixins of `sandbox.argo.workflow.Operation`)."""

from __future__ import annotations

import copy
import json
import logging
import time

from ..controllers.base import PODS, controller_ref, parse_ts
from ..machinery.errors import ApiError
from . import common
from .nodes import LEAF
from .template import TemplateError, substitute

log = logging.getLogger("sandbox.argo.workflow")
IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


class PodBuilding:
    """Creates the pod of a leaf node from its template."""

    def execute_pod(self, name, holder, tmpl, scope, boundary, display, on_exit):
        node = self.node(name)
        tname = tmpl.get("name") or holder.get("template") or (holder.get("templateRef") or {}).get("template", "")
        pod_name = common.pod_name(self.name, name, tname)
        if node is None:
            node = self.init_node(name, "Pod", holder, boundary, "Pending", display=display)
            if self.inputs_of(tmpl):
                node["inputs"] = self.inputs_of(tmpl)
        if "templateName" not in node and "templateRef" not in node and tname:
            node["templateName"] = tname
        pod = self.pods.get(pod_name)
        if pod is None and node["phase"] == "Pending":
            try:
                body = self.pod_body(name, pod_name, tmpl, {**scope, "pod.name": pod_name}, on_exit)
            except TemplateError as e:
                return self.mark(node, "Error", str(e))
            try:
                pod = self.client.create(PODS, self.ns, body)
            except ApiError as e:
                if e.code != 409:
                    return self.mark(node, "Error", str(e))
                pod = self.client.get(PODS, self.ns, pod_name)
            if pod is not None:
                self.pods[pod_name] = pod
        return self.assess_pod(node, pod, tmpl, on_exit)


    def pod_body(self, node_name: str, pod_name: str, tmpl: dict, scope: dict, on_exit: bool) -> dict:
        leaf = {k: tmpl[k] for k in (*LEAF, "volumes", "metadata", "activeDeadlineSeconds", "serviceAccountName",
                                     "nodeSelector", "tolerations", "affinity", "securityContext") if k in tmpl}
        leaf = substitute(leaf, scope)
        resolved = {**tmpl, **leaf}
        if "outputs" in tmpl:
            resolved["outputs"] = substitute(tmpl["outputs"], scope, strict=False)
        resolved.pop("retryStrategy", None)
        node_id = self.nid(node_name)
        env = [{"name": common.ENV_TEMPLATE, "value": json.dumps(resolved, separators=(",", ":"))},
               {"name": common.ENV_NODE_ID, "value": node_id},
               {"name": common.ENV_POD_NAME, "value": pod_name},
               {"name": common.ENV_WORKFLOW_NAME, "value": self.name}]
        image = self.cfg.executor_image
        if "container" in resolved:
            main = copy.deepcopy(resolved["container"])
        elif "script" in resolved:
            main = {k: v for k, v in copy.deepcopy(resolved["script"]).items() if k != "source"}
            main["args"] = [*(main.get("args") or []), "/argo/staging/script"]
        else:
            main = {"image": image, "command": ["argoexec", "resource", resolved["resource"].get("action", "")]}
        main["name"] = common.MAIN_CONTAINER
        main["env"] = env + [e for e in main.get("env") or [] if e.get("name") not in
                             {x["name"] for x in env}]
        wait = {"name": common.WAIT_CONTAINER, "image": image, "command": ["argoexec", "wait"],
                "args": ["--loglevel", "info", "--log-format", "text"], "env": copy.deepcopy(env)}
        volumes = copy.deepcopy(self.spec.get("volumes") or []) + copy.deepcopy(resolved.get("volumes") or [])
        for claim in self.spec.get("volumeClaimTemplates") or []:
            cname = claim["metadata"]["name"]
            volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": f"{self.name}-{cname}"}})
        meta = resolved.get("metadata") or {}
        pod_meta = self.spec.get("podMetadata") or {}
        labels = {**(pod_meta.get("labels") or {}), **(meta.get("labels") or {}),
                  common.LABEL_WORKFLOW: self.name, common.LABEL_COMPLETED: "false"}
        if on_exit:
            labels["workflows.argoproj.io/on-exit"] = "true"
        annotations = {**(pod_meta.get("annotations") or {}), **(meta.get("annotations") or {}),
                       common.ANN_NODE_ID: node_id, common.ANN_NODE_NAME: node_name}
        spec = {"restartPolicy": "Never", "containers": [wait, main],
                "serviceAccountName": resolved.get("serviceAccountName") or self.spec.get("serviceAccountName")
                or "default"}
        if volumes:
            spec["volumes"] = volumes
        for k in ("nodeSelector", "tolerations", "affinity", "securityContext", "imagePullSecrets",
                  "hostAliases", "priorityClassName", "schedulerName"):
            v = resolved.get(k) if resolved.get(k) is not None else self.spec.get(k)
            if v is not None:
                spec[k] = copy.deepcopy(v)
        if resolved.get("activeDeadlineSeconds") not in (None, ""):
            spec["activeDeadlineSeconds"] = int(resolved["activeDeadlineSeconds"])
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": self.ns, "labels": labels, "annotations": annotations,
                             "ownerReferences": [controller_ref(self.wf)]},
                "spec": spec}


class PodAssessment:
    """Reads a node's pod (phase, containers, outputs) into the node."""

    def assess_pod(self, node: dict, pod: dict | None, tmpl: dict, on_exit: bool) -> dict:
        stop = self.stop_reason(on_exit)
        ads = tmpl.get("activeDeadlineSeconds")
        if not stop and ads not in (None, ""):
            left = (parse_ts(node.get("startedAt")) or self.t) + int(ads) - self.t
            if left <= 0:
                stop = "Step exceeded its deadline"
            else:
                self.requeue.append(left + 0.05)
        if pod is None:
            if stop:
                return self.mark(node, "Failed", stop)
            return self.mark(node, "Error", "pod deleted") if node["phase"] != "Pending" else node
        st = pod.get("status") or {}
        phase = st.get("phase") or "Pending"
        if stop and phase not in ("Succeeded", "Failed"):
            self.client.delete(PODS, self.ns, pod["metadata"]["name"], uid=pod["metadata"]["uid"])
            return self.done(node, pod, "Failed", stop)
        if phase == "Pending":
            message, fatal = self.pending_reason(pod)
            if fatal:
                return self.done(node, pod, "Error", message)
            node["phase"] = "Pending"
            if message:
                node["message"] = message
            return node
        if phase == "Running":
            self.ctrl.pull_waits.pop(pod["metadata"]["uid"], None)
            return self.mark(node, "Running", "" if node.get("phase") == "Pending" else None)
        result = self.results.get(node["id"])
        outputs = copy.deepcopy((result or {}).get("outputs") or {})
        code = self.main_exit_code(pod)
        if code is not None:
            outputs["exitCode"] = str(code)
        if phase == "Succeeded":
            reported = ((result or {}).get("metadata", {}).get("labels") or {}).get(
                common.LABEL_REPORT_OUTPUTS_COMPLETED) == "true"
            declares = "script" in tmpl or bool((tmpl.get("outputs") or {}).get("parameters")) or \
                bool((tmpl.get("outputs") or {}).get("result"))
            if not reported:
                finished = self.pod_finished_at(pod) or self.t
                left = finished + (self.ctrl.outputs_grace * (5 if declares else 1)) - self.t
                if left > 0:
                    self.requeue.append(min(left, 0.5) + 0.05)
                    node["phase"] = "Running"
                    return node
                if declares:
                    return self.done(node, pod, "Error", "the step's outputs were never reported (no "
                                                         "WorkflowTaskResult)", outputs)
            return self.done(node, pod, "Succeeded", "", outputs)
        ph, message = self.failed_reason(pod)
        return self.done(node, pod, ph, message, outputs)

    def done(self, node: dict, pod: dict, phase: str, message: str, outputs: dict | None = None) -> dict:
        if outputs:
            node["outputs"] = outputs
            if "exitCode" in outputs:
                node["exitCode"] = outputs["exitCode"]
        self.ctrl.pull_waits.pop(pod["metadata"]["uid"], None)
        labels = pod["metadata"].get("labels") or {}
        if labels.get(common.LABEL_COMPLETED) != "true" and not pod["metadata"].get("deletionTimestamp"):
            try:
                self.client.mutate(PODS, self.ns, pod["metadata"]["name"], lambda o: o["metadata"].setdefault(
                    "labels", {}).__setitem__(common.LABEL_COMPLETED, "true"))
            except ApiError as e:
                log.debug("labelling pod %s: %s", pod["metadata"]["name"], e)
        strategy = (self.spec.get("podGC") or {}).get("strategy")
        if strategy == "OnPodCompletion" or (strategy == "OnPodSuccess" and phase == "Succeeded"):
            self.client.delete(PODS, self.ns, pod["metadata"]["name"], uid=pod["metadata"]["uid"])
        return self.mark(node, phase, message)

    def pending_reason(self, pod: dict) -> tuple[str, bool]:
        st = pod.get("status") or {}
        for cs in st.get("containerStatuses") or []:
            w = (cs.get("state") or {}).get("waiting")
            if w:
                reason = w.get("reason") or ""
                message = f"{reason}: {w['message']}" if w.get("message") else reason
                if reason in IMAGE_PULL:
                    uid = pod["metadata"]["uid"]
                    first = self.ctrl.pull_waits.setdefault(uid, time.monotonic())
                    left = first + self.ctrl.image_pull_grace - time.monotonic()
                    if left <= 0:
                        return message, True
                    self.requeue.append(left + 0.05)
                return message, False
        for c in st.get("conditions") or []:
            if c.get("reason") == "Unschedulable":
                return (f"Unschedulable: {c['message']}" if c.get("message") else "Unschedulable"), False
        return "", False

    @staticmethod
    def main_exit_code(pod: dict) -> int | None:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            t = (cs.get("state") or {}).get("terminated")
            if cs.get("name") == common.MAIN_CONTAINER and t:
                return int(t.get("exitCode") or 0)
        return None

    @staticmethod
    def pod_finished_at(pod: dict) -> float | None:
        times = [parse_ts(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
                 for cs in (pod.get("status") or {}).get("containerStatuses") or []]
        times = [t for t in times if t]
        return max(times) if times else None

    @staticmethod
    def failed_reason(pod: dict) -> tuple[str, str]:
        """Upstream's inferFailedReason: the pod's message, else main's, wait's, then other containers'."""
        st = pod.get("status") or {}
        if st.get("reason") == "DeadlineExceeded":
            return "Failed", "Step exceeded its deadline"
        if st.get("message"):
            return "Failed", st["message"]
        order = {common.MAIN_CONTAINER: 0, common.WAIT_CONTAINER: 1}
        for cs in sorted(st.get("containerStatuses") or [], key=lambda c: order.get(c.get("name"), 2)):
            state = cs.get("state") or {}
            if state.get("waiting"):
                w = state["waiting"]
                return "Error", f"Pod failed before {cs['name']} container starts due to {w.get('reason')}: " \
                                f"{w.get('message', '')}"
            t = state.get("terminated")
            if not t or int(t.get("exitCode") or 0) == 0:
                continue
            msg = f"{t.get('reason') or 'Error'} (exit code {t.get('exitCode')})"
            if t.get("message"):
                msg += f": {t['message']}"
            return ("Failed" if cs.get("name") != common.WAIT_CONTAINER else "Error"), msg
        m = pod["metadata"]
        return "Failed", f"can't find failed message for pod {m['name']} namespace {m.get('namespace')}"
