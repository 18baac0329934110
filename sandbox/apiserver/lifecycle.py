"""Background lifecycle work, like kube-controller-manager's: garbage collection by ownerReferences,
finalizers orphan/foregroundDeletion, namespace termination, CRD cleanup, default ServiceAccounts."""

from __future__ import annotations

import base64
import copy
import logging
import threading
from collections import defaultdict

from . import crds, ssa
from .auth import ADMIN, Authenticator
from .errors import ApiError
from .kinds import Kind, Registry
from .meta import now
from .objects import NS_KEY, Ctx, Objects
from .store import Store

log = logging.getLogger("sandbox.lifecycle")
SA_KEY = ("", "serviceaccounts")
SECRET_KEY = ("", "secrets")
CM_KEY = ("", "configmaps")
ROOT_CA_DESCRIPTION = "kubernetes.io/description"
ROOT_CA_TEXT = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
                "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
                "distributions of Kubernetes clusters.")


class Lifecycle:
    def __init__(self, objects: Objects, registry: Registry, store: Store, auth: Authenticator | None = None,
                 ca_pem: str = ""):
        self.objects, self.registry, self.store, self.auth, self.ca_pem = objects, registry, store, auth, ca_pem
        # kube-controller-manager's controllers all write with its user agent: that is their field manager
        self.ctx = Ctx(ADMIN, {}, "kube-controller-manager")
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lifecycle", daemon=True)
        objects.hooks.append(self._on_change)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    # -- hooks run synchronously inside the write's lock --
    def _on_change(self, kind: Kind, obj: dict, what: str) -> None:
        meta = obj["metadata"]
        if kind.key == crds.CRD_KEY:
            if what == "removed":
                for k in self.registry.all():
                    if k.crd and f"{k.plural}.{k.group}" == meta["name"]:
                        self.store.drop_collection(k.key)
                        break
                crds.sync(self.registry, None, meta["name"])
            elif not meta.get("deletionTimestamp"):
                crds.sync(self.registry, obj, meta["name"])
        if kind.key == NS_KEY and what == "put" and not meta.get("deletionTimestamp"):
            self._namespace_defaults(meta["name"])
        if what == "removed" or meta.get("deletionTimestamp"):
            self.wake.set()
        if kind.key == SECRET_KEY and obj.get("type") == "kubernetes.io/service-account-token":
            self.wake.set()

    def _namespace_defaults(self, ns: str) -> None:
        sa_kind = self.objects.kind_for_key(SA_KEY)
        cm_kind = self.objects.kind_for_key(CM_KEY)
        if self.store.get(SA_KEY, ns, "default") is None:
            self.objects.create(sa_kind, ns, {"metadata": {"name": "default"}}, self.ctx)
        if self.ca_pem and self.store.get(CM_KEY, ns, "kube-root-ca.crt") is None:
            self.objects.create(cm_kind, ns, {"metadata": {"name": "kube-root-ca.crt",
                                                           "annotations": {ROOT_CA_DESCRIPTION: ROOT_CA_TEXT}},
                                              "data": {"ca.crt": self.ca_pem}}, self.ctx)

    # -- the loop --
    def _run(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.sweep()
            except Exception:
                log.exception("lifecycle sweep failed")

    def _delete(self, key, obj, policy="Background") -> None:
        kind = self.objects.kind_for_key(key)
        if kind is None:
            return
        m = obj["metadata"]
        try:
            self.objects.delete(kind, m.get("namespace", ""), m["name"], {"propagationPolicy": policy}, self.ctx)
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _edit(self, key, obj, change) -> None:
        kind = self.objects.kind_for_key(key)
        if kind is None:
            return
        m = obj["metadata"]
        with self.store.lock:
            cur = self.store.get(key, m.get("namespace", ""), m["name"])
            if cur is None:
                return
            new = copy.deepcopy(cur)
            change(new)
            # a controller's write is tracked like any update (what it removes is no longer anyone's)
            new = ssa.record_update(cur, new, self.ctx.manager, kind.gvk, kind.schema)
            self.objects.commit(kind, cur, new, self.ctx)

    @staticmethod
    def _drop_finalizer(name):
        def change(o):
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != name]
        return change

    def sweep(self) -> None:
        with self.store.lock:
            everything = [(key, o) for key in self.store.collections() for o in self.store.list(key)[0]]
        uids = {o["metadata"].get("uid") for _, o in everything}
        dependents: dict[str, list] = defaultdict(list)
        by_ns: dict[str, list] = defaultdict(list)
        for key, o in everything:
            for ref in o["metadata"].get("ownerReferences") or []:
                dependents[ref.get("uid")].append((key, o))
            if o["metadata"].get("namespace"):
                by_ns[o["metadata"]["namespace"]].append((key, o))
        for key, o in everything:
            try:
                self._one(key, o, uids, dependents, by_ns)
            except Exception:
                log.exception("lifecycle failed on %s %s", key, o["metadata"].get("name"))

    def _one(self, key, o, uids, dependents, by_ns) -> None:
        m = o["metadata"]
        if m.get("deletionTimestamp"):
            self._finalize(key, o, dependents.get(m.get("uid"), []), by_ns)
            return
        refs = m.get("ownerReferences") or []
        if refs:
            alive = [r for r in refs if r.get("uid") in uids]
            if not alive:
                self._delete(key, o)
            elif len(alive) < len(refs):
                self._edit(key, o, lambda d: _set_owner_refs(d, alive))
        if key == SECRET_KEY and o.get("type") == "kubernetes.io/service-account-token" and self.auth:
            self._fill_token_secret(o)

    def _finalize(self, key, o, deps: list, by_ns) -> None:
        """Work on an object being deleted: the finalizers this process is responsible for."""
        m = o["metadata"]
        uid, fins = m.get("uid"), m.get("finalizers") or []
        if "orphan" in fins:
            for dkey, dep in deps:
                self._edit(dkey, dep, lambda d: _set_owner_refs(d, [
                    r for r in d["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]))
            self._edit(key, o, self._drop_finalizer("orphan"))
        if "foregroundDeletion" in fins:
            for dkey, dep in deps:
                if not dep["metadata"].get("deletionTimestamp"):
                    self._delete(dkey, dep, "Foreground")
            if not deps:
                self._edit(key, o, self._drop_finalizer("foregroundDeletion"))
        if key == crds.CRD_KEY and crds.CLEANUP_FINALIZER in fins and self._crd_objects_gone(m["name"]):
            self._edit(key, o, self._drop_finalizer(crds.CLEANUP_FINALIZER))
        if key == NS_KEY:
            self._terminate_namespace(m["name"], by_ns.get(m["name"], []))

    def _crd_objects_gone(self, crd_name: str) -> bool:
        for k in self.registry.all():
            if k.crd and f"{k.plural}.{k.group}" == crd_name:
                for cr in self.store.list(k.key)[0]:
                    self._delete(k.key, cr)
                return not self.store.list(k.key)[0]
        return True

    def _terminate_namespace(self, ns: str, contents: list) -> None:
        remaining = [(k, o) for k, o in contents if self.store.get(k, ns, o["metadata"]["name"]) is not None]
        for key, o in remaining:
            if not o["metadata"].get("deletionTimestamp"):
                self._delete(key, o)
        with self.store.lock:
            left = [(key, o) for key in self.store.collections() for o in self.store.list(key, ns)[0]
                    if o["metadata"].get("namespace") == ns]
            cur = self.store.get(NS_KEY, "", ns)
            if cur is None:
                return
            self._namespace_conditions(cur, left)
            cur = self.store.get(NS_KEY, "", ns)
            if left:
                return
            spec_fins = list((cur.get("spec") or {}).get("finalizers") or [])
            if "kubernetes" in spec_fins:  # what the namespace controller finalizes (PUT .../finalize)
                new = copy.deepcopy(cur)
                _drop_spec_finalizer(new, "kubernetes")
                kind = self.objects.kind_for_key(NS_KEY)
                new = ssa.record_update(cur, new, self.ctx.manager, kind.gvk, kind.schema, "finalize")
                self.objects.commit(kind, cur, new, self.ctx)
                cur = self.store.get(NS_KEY, "", ns)
                spec_fins = list((cur.get("spec") or {}).get("finalizers") or [])
            if spec_fins or cur["metadata"].get("finalizers"):
                return
            final = self.store.remove(NS_KEY, "", ns)
            self.objects.notify(self.objects.kind_for_key(NS_KEY), final, "removed")

    def _namespace_conditions(self, ns_obj: dict, left: list) -> None:
        """The namespace controller's status conditions while it deletes the content."""
        counts: dict[str, int] = {}
        fins: dict[str, int] = {}
        for key, o in left:
            group, plural = key
            counts[f"{plural}.{group}"] = counts.get(f"{plural}.{group}", 0) + 1
            for f in o["metadata"].get("finalizers") or []:
                fins[f] = fins.get(f, 0) + 1
        want = [
            ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
             "All resources successfully discovered"),
            ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
             "All legacy kube types successfully parsed"),
            ("NamespaceDeletionContentFailure", "False", "ContentDeleted",
             "All content successfully deleted, may be waiting on finalization"),
            ("NamespaceContentRemaining", "True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                f"{r} has {n} resource instances" for r, n in sorted(counts.items())))
            if counts else ("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed"),
            ("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
             "Some content in the namespace has finalizers remaining: " + ", ".join(
                 f"{f} in {n} resource instances" for f, n in sorted(fins.items())))
            if fins else ("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                          "All content-preserving finalizers finished"),
        ]
        old = {c.get("type"): c for c in (ns_obj.get("status") or {}).get("conditions") or []}
        conditions = []
        for ctype, status, reason, message in want:
            prev = old.get(ctype)
            same = prev is not None and (prev.get("status"), prev.get("reason"), prev.get("message")) == (
                status, reason, message)
            conditions.append(prev if same else {"type": ctype, "status": status, "lastTransitionTime": now(),
                                                 "reason": reason, "message": message})
        if conditions == (ns_obj.get("status") or {}).get("conditions"):
            return
        new = copy.deepcopy(ns_obj)
        new.setdefault("status", {})["conditions"] = conditions
        kind = self.objects.kind_for_key(NS_KEY)
        try:
            self.objects.update(kind, "", ns_obj["metadata"]["name"], new, self.ctx, sub="status")
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _fill_token_secret(self, secret: dict) -> None:
        m = secret["metadata"]
        if (secret.get("data") or {}).get("token"):
            return
        sa_name = (m.get("annotations") or {}).get("kubernetes.io/service-account.name")
        sa = self.store.get(SA_KEY, m["namespace"], sa_name or "")
        if sa is None:
            return
        token = self.auth.issue_legacy(m["namespace"], sa, m["name"])

        def change(o):
            data = o.setdefault("data", {})
            data["token"] = base64.b64encode(token.encode()).decode()
            data["namespace"] = base64.b64encode(m["namespace"].encode()).decode()
            if self.ca_pem:
                data["ca.crt"] = base64.b64encode(self.ca_pem.encode()).decode()
            o["metadata"].setdefault("annotations", {})["kubernetes.io/service-account.uid"] = sa["metadata"]["uid"]
        self._edit(SECRET_KEY, secret, change)


def _set_owner_refs(obj: dict, refs: list) -> None:
    """The garbage collector's patch: an emptied ownerReferences disappears (omitempty)."""
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


def _drop_spec_finalizer(obj: dict, name: str) -> None:
    fins = [f for f in (obj.get("spec") or {}).get("finalizers") or [] if f != name]
    if fins:
        obj["spec"]["finalizers"] = fins
    else:
        obj.get("spec", {}).pop("finalizers", None)
