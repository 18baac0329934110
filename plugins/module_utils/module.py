# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MlopsModule, the one base every mlops.k8s module is built on, and K8sAnsibleModule for the Kubernetes ones.

The base builds the AnsibleModule, masks secret argument values, checks the Python requirements with a clear
message and turns K8sError into ``fail_json(msg=...)`` so users never see a traceback for their own mistakes;
K8sAnsibleModule adds the connection options and builds the task's client lazily (one client, one discovery per
task). s3.py's S3AnsibleModule adds the S3 ones.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mlops.k8s.plugins.module_utils import args as _args
from ansible_collections.mlops.k8s.plugins.module_utils import limits
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, to_k8s_error
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import load_manifests
from ansible_collections.mlops.k8s.plugins.module_utils.service import is_secret

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
    """Credential strings of an inline kubeconfig, so Ansible masks them in output and logs.

    The values of an exec credential plugin's ``env`` (``users[].user.exec.env[].value``) count as credentials.
    """
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SENSITIVE_KUBECONFIG_KEYS and isinstance(value, str) and value:
                found.add(value)
            elif key == "exec" and isinstance(value, dict) and isinstance(value.get("env"), list):
                found.update(e["value"] for e in value["env"]
                             if isinstance(e, dict) and isinstance(e.get("value"), str) and e["value"])
                found.update(sensitive_kubeconfig_values(value))
            else:
                found.update(sensitive_kubeconfig_values(value))
    elif isinstance(data, list):
        for item in data:
            found.update(sensitive_kubeconfig_values(item))
    return found


MIN_MASKED_LENGTH = 4  # shorter values ("1", "yes") would mask every occurrence of them in the output


def secret_definition_values(definition):
    """The values of the Secrets in a ``definition`` (as given: ``data`` base64, ``stringData`` clear)."""
    if definition is None:
        return set()
    try:
        manifests = load_manifests(definition)
    except Exception:  # an invalid definition is reported by the module itself; its log shows what it can
        return set()
    found = set()
    for manifest in manifests:
        if not is_secret(manifest.obj):
            continue
        for field in ("data", "stringData"):
            values = manifest.obj.get(field)
            if isinstance(values, dict):
                found.update(v for v in values.values() if isinstance(v, str))
    return found


def sensitive_values(params):
    """Values of the task's arguments Ansible must mask in its log, its output and the invocation it returns:
    the credentials of an inline kubeconfig and the values of Secrets in a ``definition``."""
    found = set()
    if isinstance(params.get("kubeconfig"), dict):
        found.update(sensitive_kubeconfig_values(params["kubeconfig"]))
    found.update(secret_definition_values(params.get("definition")))
    return {v for v in found if len(v) >= MIN_MASKED_LENGTH}


# options every module checks the same way: (minimum, maximum)
SECONDS_OPTIONS = {"wait_timeout": (0, limits.MAX_SECONDS), "wait_crashloop_restarts": (0, limits.INT32_MAX)}


class _AnsibleModule(AnsibleModule):
    """AnsibleModule that masks ``sensitive_values`` of its arguments from the start: AnsibleModule logs the
    invocation (syslog / journald) inside its constructor, before any later ``no_log_values`` update.

    It also refuses, with a message, options with suboptions given a number or a list where ansible-core's own
    checks would raise a TypeError (see ``args.suboption_type_errors``).
    """

    def _set_internal_properties(self, argument_spec=None, module_parameters=None):
        super()._set_internal_properties(argument_spec, module_parameters)
        errors = _args.suboption_type_errors(self.argument_spec, self.params)
        if errors:
            # before ansible-core's validation, so no value is known to be secret yet: none is returned
            self.fail_json(msg="; ".join(errors), invocation={"module_args": {}})

    def _log_invocation(self):
        self.no_log_values.update(sensitive_values(self.params))
        super()._log_invocation()


class MlopsModule:
    """The one base of every mlops.k8s module, as ``AnsibleK8SModule`` (kubernetes.core) and ``AnsibleAWSModule``
    (amazon.aws) are theirs: it builds the AnsibleModule (secret values of the arguments masked from the start,
    suboption type errors and the ``*_timeout`` ranges refused with a message) and offers what modules use of it
    as explicit attributes, nothing passed through. ``fail`` and ``run`` turn any K8sError (the root of the
    collection's errors) into ``fail_json(msg=...)``, so users never see a traceback for their own mistakes.
    """

    def __init__(self, argument_spec, **kwargs):
        kwargs.setdefault("supports_check_mode", True)
        self._module = _AnsibleModule(argument_spec=argument_spec, **kwargs)
        self._module.no_log_values.update(sensitive_values(self._module.params))  # also when the log is off
        self.params = self._module.params
        try:
            limits.check_ints(self.params, {k: v for k, v in SECONDS_OPTIONS.items() if k in argument_spec})
        except K8sError as err:
            self.fail_json(msg=err.msg)

    @property
    def module(self):
        """The AnsibleModule itself, for what this class does not offer."""
        return self._module

    @property
    def check_mode(self):
        return self._module.check_mode

    @property
    def diff_mode(self):
        return bool(getattr(self._module, "_diff", False))

    @property
    def no_log_values(self):
        return self._module.no_log_values

    def require(self, library, available, import_error):
        """Fail with Ansible's missing_required_lib message unless ``available``."""
        if not available:
            self.fail_json(msg=missing_required_lib(library), exception=import_error)

    def warn(self, warning):
        self._module.warn(warning)

    def atomic_move(self, src, dest):
        self._module.atomic_move(src, dest)

    def exit_json(self, **result):
        self._module.exit_json(**result)

    def fail_json(self, msg, **result):
        self._module.fail_json(msg=msg, **result)

    def fail(self, error, **result):
        """fail_json with the one-line message of any exception (and its status and reason, when known)."""
        err = to_k8s_error(error)
        if err.status is not None:
            result.setdefault("status", err.status)
        if err.reason:
            result.setdefault("reason", err.reason)
        self.fail_json(msg=err.msg, **result)

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
        self.exit_json(**result)


class K8sAnsibleModule(MlopsModule):
    """A module that talks to Kubernetes: the connection options (and the wait options) merged into its argument
    spec, PyYAML required where a module reads manifests, and the task's one client, built on first use."""

    def __init__(self, argument_spec=None, auth=True, wait=False, requires_yaml=False, **kwargs):
        spec = {}
        if auth:
            spec.update(_args.auth_spec())
        if wait:
            spec.update(_args.wait_spec())
        spec.update(argument_spec or {})
        super().__init__(spec, **kwargs)
        self._client = None
        if requires_yaml:
            self.require("PyYAML", HAS_YAML, YAML_IMP_ERR)

    @property
    def client(self):
        """The task's K8sClient (built on first use; with a ``concurrency`` option, that many connections kept)."""
        if self._client is None:
            from ansible_collections.mlops.k8s.plugins.module_utils.client import build_client

            self._client = build_client(self.params, pool_maxsize=self.params.get("concurrency"))
        return self._client
