"""What a component sees of "the sandbox" when it runs against an API server over HTTPS: the sandbox's
directory and environment, the shared informer cache (`store`), the pod-runner and endpoint registries, and an
API client for each identity (`client_for`).

Identities: a component writes as its own user. A ServiceAccount user (the Seldon operator, the Argo controller,
the add-ons) authenticates with its own token from the TokenRequest API, renewed before it expires, once the
account exists (the platform roles create the operators' accounts); until then, and for any other user (the
node), the admin credentials impersonate it (`Impersonate-User` / `Impersonate-Group`). Either way the server
authorizes every request as that user: RBAC, the Node authorizer and NodeRestriction apply as they do to the real
component."""

from __future__ import annotations

import logging
import threading
import time

from ..controllers.runtime import EndpointsRegistry, RunnerRegistry
from ..machinery.errors import ApiError
from .cache import Cache
from .remote import VERSION, RemoteClient
from .rest import Credentials, Discovery, Rest

log = logging.getLogger("sandbox.client.host")
ADDON_MANAGER = "system:serviceaccount:kube-system:sandbox-addon-manager"


class ServiceAccountToken:
    """A ServiceAccount's token from the TokenRequest API (`expiration` seconds, renewed when less than a fifth is
    left); None while the account does not exist, asked again at most every `retry` seconds."""

    def __init__(self, admin: Rest, namespace: str, name: str, *, expiration: int = 3600, retry: float = 2.0):
        self.admin, self.namespace, self.name = admin, namespace, name
        self.expiration, self.retry = expiration, retry
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """The server refused the token (its account was deleted, maybe made again): ask for a new one."""
        with self._lock:
            self._token, self._renew_at = None, 0.0

    def __call__(self) -> str | None:
        now = time.monotonic()
        if now < self._renew_at:
            return self._token
        with self._lock:
            if time.monotonic() < self._renew_at:
                return self._token
            try:
                out = self.admin.request(
                    "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.name}/token",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                     "spec": {"expirationSeconds": self.expiration}})
            except ApiError as e:
                if e.code not in (404, 403):
                    log.warning("token for %s/%s: %s", self.namespace, self.name, e)
                self._token, self._renew_at = None, time.monotonic() + self.retry
                return None
            self._token = out["status"]["token"]
            self._renew_at = time.monotonic() + self.expiration * 0.8
            return self._token


def groups_for(user: str) -> tuple[str, ...]:
    if user.startswith("system:node:"):
        return ("system:nodes", "system:authenticated")
    if user.startswith("system:serviceaccount:"):
        ns = user.split(":")[2]
        return ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")
    return ("system:authenticated",)


class RemoteHost:
    control_plane = "kube"

    def __init__(self, directory: str, server: str, ca_file: str | None, admin: Credentials):
        self.dir, self.env = directory, {}
        self.admin = admin
        self.rest = Rest(server, ca_file, admin, user_agent=f"sandbox-informers/{VERSION}")
        self.discovery = Discovery(self.rest)
        self.store = Cache(self.rest, self.discovery)
        self.pod_runners = RunnerRegistry()
        self.endpoints_registry = EndpointsRegistry()
        self.identities: dict[str, Credentials] = {}
        self.app = self.audit = None
        self.controllers: dict = {}

    def credentials(self, user: str) -> Credentials:
        if user in self.identities:
            return self.identities[user]
        if user == ADDON_MANAGER:   # applies the sandbox's add-ons (StorageClasses, ...) as an admin would
            return self.admin
        source = None
        parts = user.split(":")
        if len(parts) == 4 and user.startswith("system:serviceaccount:"):
            source = ServiceAccountToken(self.rest, parts[2], parts[3])
        creds = Credentials(token=self.admin.token, cert_file=self.admin.cert_file, key_file=self.admin.key_file,
                            impersonate=user, groups=groups_for(user), token_source=source)
        self.identities[user] = creds
        return creds

    def client_for(self, user: str, manager: str = "kube-controller-manager") -> RemoteClient:
        rest = self.rest.with_creds(self.credentials(user), f"{manager}/{VERSION} (linux/amd64) sandbox")
        return RemoteClient(rest, self.store, self.discovery, user, manager)

    def close(self) -> None:
        self.store.close()
