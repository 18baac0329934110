"""What a component sees of "the sandbox" when it runs against an API server over HTTPS: the sandbox's
directory and environment, the shared informer cache (`store`), the pod-runner and endpoint registries, and an
API client for each identity (`client_for`).

Identities: a component writes as its own user. An identity with its own credentials (a ServiceAccount token
from the TokenRequest API, a client certificate) uses them; any other is impersonated by the admin credentials
(`Impersonate-User` / `Impersonate-Group`), so the server still authorizes every request as that user: RBAC,
the Node authorizer and NodeRestriction apply as they do to the real component."""

from __future__ import annotations

from ..controllers.runtime import EndpointsRegistry, RunnerRegistry
from .cache import Cache
from .remote import VERSION, RemoteClient
from .rest import Credentials, Discovery, Rest

ADDON_MANAGER = "system:serviceaccount:kube-system:sandbox-addon-manager"


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
        return Credentials(token=self.admin.token, cert_file=self.admin.cert_file, key_file=self.admin.key_file,
                           impersonate=user, groups=groups_for(user))

    def client_for(self, user: str, manager: str = "kube-controller-manager") -> RemoteClient:
        rest = self.rest.with_creds(self.credentials(user), f"{manager}/{VERSION} (linux/amd64) sandbox")
        return RemoteClient(rest, self.store, self.discovery, user, manager)

    def close(self) -> None:
        self.store.close()
