"""GET /api/v1/namespaces/<ns>/pods/<pod>/log served from DIR/logs/pods/<ns>/<pod>/<container>.log.

Supported: container, follow (stream appended bytes until the pod ends, is deleted, or the client goes away),
tailLines, limitBytes, sinceSeconds / sinceTime and timestamps. Files hold raw output, so a line's time is the
file's modification time when it was already there and the time it was read while following (approximation).
"""

from __future__ import annotations

import datetime as dt
import os
import time

from ..machinery.errors import bad_request
from ..machinery.http import Response
from .runtime import pod_log_dir

PODS = ("", "pods")


def _ts(t: float) -> bytes:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()


def _stamp(data: bytes, t: float, at_line_start: bool) -> tuple[bytes, bool]:
    out = []
    for line in data.splitlines(keepends=True):
        out.append((_ts(t) + b" " + line) if at_line_start else line)
        at_line_start = line.endswith(b"\n")
    return b"".join(out), at_line_start


class PodLogs:
    def __init__(self, sandbox):
        self.sb = sandbox

    def __call__(self, ns: str, name: str, query: dict):  # noqa: PLR0912 - one branch per option of the kubelet's log endpoint (container, previous, since, tail, limit, follow)
        pod = self.sb.store.get(PODS, ns, name)
        if pod is None:
            from ..machinery.errors import not_found
            raise not_found("pods", "", name)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(containers) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(containers)}]" + (f" or one of the init containers: "
                                                                  f"[{' '.join(init)}]" if init else ""))
            container = containers[0]
        elif container not in containers and container not in init:
            raise bad_request(f"container {container} is not valid for pod {name}")
        if query.get("previous") in ("true", "1"):
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        path = os.path.join(pod_log_dir(self.sb.dir, ns, name), f"{container}.log")
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if not os.path.exists(path):
            if phase == "Pending":
                raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
            data = b""
        else:
            with open(path, "rb") as f:
                data = f.read()
        timestamps = query.get("timestamps") in ("true", "1")
        mtime = os.path.getmtime(path) if os.path.exists(path) else time.time()
        since = None
        try:
            if query.get("sinceSeconds"):
                since = time.time() - int(query["sinceSeconds"])
            elif query.get("sinceTime"):
                since = dt.datetime.strptime(query["sinceTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=dt.UTC).timestamp()
            tail = int(query["tailLines"]) if query.get("tailLines") not in (None, "") else None
            limit = int(query["limitBytes"]) if query.get("limitBytes") not in (None, "") else None
        except ValueError as e:
            raise bad_request(f"invalid log options: {e}") from e
        if since is not None and mtime < since:
            data = b""
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail > 0 else b""
        offset = os.path.getsize(path) if os.path.exists(path) else 0
        head, at_start = (_stamp(data, mtime, True) if timestamps else (data, True))
        if limit is not None:
            head = head[:limit]
        if query.get("follow") not in ("true", "1"):
            return head
        return Response(200, content_type="text/plain", stream=self._follow(ns, name, pod["metadata"]["uid"], path,
                                                                            offset, head=head, timestamps=timestamps,
                                                                            at_start=at_start, limit=limit))

    def _follow(self, ns, name, uid, path, offset, *, head, timestamps, at_start, limit):
        sent = 0
        if head:
            yield head
            sent += len(head)
        stopping = getattr(self.sb.app, "stopping", None)
        idle_after_end = 0
        while not (stopping is not None and stopping.is_set()):
            if limit is not None and sent >= limit:
                return
            chunk = b""
            if os.path.exists(path):
                size = os.path.getsize(path)
                if size < offset:
                    offset = 0
                if size > offset:
                    with open(path, "rb") as f:
                        f.seek(offset)
                        chunk = f.read(min(size - offset, 1 << 20))
                    offset += len(chunk)
            if chunk:
                if timestamps:
                    chunk, at_start = _stamp(chunk, time.time(), at_start)
                if limit is not None:
                    chunk = chunk[:limit - sent]
                sent += len(chunk)
                yield chunk
                continue
            pod = self.sb.store.get(PODS, ns, name)
            ended = pod is None or pod["metadata"].get("uid") != uid or \
                (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if ended:
                idle_after_end += 1
                if idle_after_end > 2:
                    return
            time.sleep(0.1)
