# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""K8sAnsibleModule: the one wrapper every mlops.k8s Kubernetes module is built on.

It merges the connection options into the argument spec, checks the Python requirements with a clear
message, builds the task's client lazily (one client, one discovery per task) and turns K8sError into
``fail_json(msg=...)`` so users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mlops.k8s.plugins.module_utils import args as _args
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, to_k8s_error

try:
    import kubernetes  # noqa: F401  # pylint: disable=unused-import

    HAS_KUBERNETES = True
    KUBERNETES_IMP_ERR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMP_ERR = traceback.format_exc()

try:
    import yaml  # noqa: F401  # pylint: disable=unused-import

    HAS_YAML = True
    YAML_IMP_ERR = None
except ImportError:
    HAS_YAML = False
    YAML_IMP_ERR = traceback.format_exc()


SENSITIVE_KUBECONFIG_KEYS = frozenset((
    "token", "password", "client-key-data", "client-certificate-data", "id-token", "refresh-token",
    "access-token", "client-secret", "secret",
))


def sensitive_kubeconfig_values(data):
    """Credential strings of an inline kubeconfig, so Ansible masks them in output and logs."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SENSITIVE_KUBECONFIG_KEYS and isinstance(value, str) and value:
                found.add(value)
            else:
                found.update(sensitive_kubeconfig_values(value))
    elif isinstance(data, list):
        for item in data:
            found.update(sensitive_kubeconfig_values(item))
    return found


class K8sAnsibleModule:
    """Wraps AnsibleModule; attribute access falls through to it (params, check_mode, exit_json, ...)."""

    def __init__(self, argument_spec=None, auth=True, wait=False, requires_yaml=False, **kwargs):
        spec = {}
        if auth:
            spec.update(_args.auth_spec())
        if wait:
            spec.update(_args.wait_spec())
        spec.update(argument_spec or {})
        kwargs.setdefault("supports_check_mode", True)
        self._module = AnsibleModule(argument_spec=spec, **kwargs)
        self._client = None
        if auth and isinstance(self._module.params.get("kubeconfig"), dict):
            self._module.no_log_values.update(sensitive_kubeconfig_values(self._module.params["kubeconfig"]))
        if not HAS_KUBERNETES:
            self._module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMP_ERR)
        if requires_yaml and not HAS_YAML:
            self._module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMP_ERR)

    def __getattr__(self, name):
        return getattr(self._module, name)

    @property
    def module(self):
        return self._module

    @property
    def check_mode(self):
        return self._module.check_mode

    @property
    def diff_mode(self):
        return bool(getattr(self._module, "_diff", False))

    @property
    def client(self):
        """The task's K8sClient (built on first use)."""
        if self._client is None:
            from ansible_collections.mlops.k8s.plugins.module_utils.client import build_client

            self._client = build_client(self._module.params)
        return self._client

    def fail(self, error, **result):
        """fail_json with the one-line message of any exception."""
        err = to_k8s_error(error)
        if err.status is not None:
            result.setdefault("status", err.status)
        if err.reason:
            result.setdefault("reason", err.reason)
        self._module.fail_json(msg=err.msg, **result)

    def run(self, func):
        """Call ``func(self)`` -> result dict and exit; K8sError (and client errors) become fail_json."""
        try:
            result = func(self)
        except K8sError as err:
            self.fail(err)
        except Exception as err:  # anything from the client we did not translate: still one line, plus trace
            if type(err).__module__.partition(".")[0] in ("kubernetes", "urllib3"):
                self.fail(err)
            raise
        self._module.exit_json(**result)
