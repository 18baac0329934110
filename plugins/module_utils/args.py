# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the mlops.k8s modules.

The connection options use the names (and K8S_AUTH_* environment variables) of kubernetes.core,
so ``module_defaults`` written for kubernetes.core work here too. Environment variables are
resolved in ``client.resolve_auth`` rather than through argspec fallbacks, so lookups and other
plugins get the same precedence (task argument > environment > kubeconfig > in-cluster).
"""

from __future__ import annotations

import copy

PROXY_HEADERS_SPEC = {
    "proxy_basic_auth": {"type": "str", "no_log": True},
    "basic_auth": {"type": "str", "no_log": True},
    "user_agent": {"type": "str"},
}

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": PROXY_HEADERS_SPEC},
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
    "request_timeout": {"type": "int"},
}

# option name -> environment variables read when the option is not set (first one set wins).
AUTH_ENV = {
    "kubeconfig": ("K8S_AUTH_KUBECONFIG",),
    "context": ("K8S_AUTH_CONTEXT",),
    "host": ("K8S_AUTH_HOST",),
    "api_key": ("K8S_AUTH_API_KEY",),
    "username": ("K8S_AUTH_USERNAME",),
    "password": ("K8S_AUTH_PASSWORD",),
    "validate_certs": ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    "ca_cert": ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    "client_cert": ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    "client_key": ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
    "proxy": ("K8S_AUTH_PROXY",),
    "no_proxy": ("K8S_AUTH_NO_PROXY",),
    "persist_config": ("K8S_AUTH_PERSIST_CONFIG",),
    "impersonate_user": ("K8S_AUTH_IMPERSONATE_USER",),
    "impersonate_groups": ("K8S_AUTH_IMPERSONATE_GROUPS",),
    "request_timeout": ("K8S_AUTH_REQUEST_TIMEOUT",),
}
PROXY_HEADERS_ENV_PREFIX = "K8S_AUTH_PROXY_HEADERS_"

CONDITION_SPEC = {
    "type": {"type": "str", "required": True},
    "status": {"type": "str", "default": "True", "choices": ["True", "False", "Unknown"]},
    "reason": {"type": "str"},
}

WAIT_ARG_SPEC = {
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 120},
    "wait_condition": {"type": "dict", "options": CONDITION_SPEC},
    "wait_fail_fast": {"type": "bool", "default": True},
    "wait_crashloop_restarts": {"type": "int", "default": 3},
}


# How info and wait return objects: Secret values masked unless revealed, fields hidden on request.
OUTPUT_ARG_SPEC = {
    "reveal_secrets": {"type": "bool", "default": False},
    "hide_fields": {"type": "list", "elements": "str", "default": [], "no_log": False},
}


def output_spec():
    """A fresh copy of OUTPUT_ARG_SPEC."""
    return copy.deepcopy(OUTPUT_ARG_SPEC)


def auth_spec():
    """A fresh copy of AUTH_ARG_SPEC (argument specs are mutated by AnsibleModule)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def wait_spec():
    """A fresh copy of WAIT_ARG_SPEC."""
    return copy.deepcopy(WAIT_ARG_SPEC)


_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (list, "a list"))


def _kind_of(value):
    return next((text for kind, text in _KINDS if isinstance(value, kind)), "a %s" % type(value).__name__)


def suboption_type_errors(argument_spec, params, prefix=""):
    """Why options with suboptions hold something ansible-core cannot check (an empty list when they do not).

    ansible-core looks up the suboptions of a ``dict`` option (and of each element of a ``list`` of ``dict``)
    before it checks that the value is a dictionary, so a number or a list there ends in a TypeError traceback
    instead of a message. Strings are left to ansible-core (it reads ``k=v`` and JSON strings as dictionaries).
    The values themselves are never shown: they may be credentials (``proxy_headers.proxy_basic_auth``).
    """
    errors = []
    for name, option in argument_spec.items():
        if not option.get("options"):
            continue
        kind = option.get("type")
        if kind not in ("dict", "list") or (kind == "list" and option.get("elements") != "dict"):
            continue
        for key in (name, *option.get("aliases", ())):
            value = params.get(key) if isinstance(params, dict) else None
            if value is None:
                continue
            many = kind == "list" and isinstance(value, list)
            for index, element in enumerate(value if many else [value]):
                where = "%s%s%s" % (prefix, key, "[%d]" % index if many else "")
                if isinstance(element, dict):
                    errors.extend(suboption_type_errors(option["options"], element, where + "."))
                elif not isinstance(element, str):
                    errors.append("%s must be %s, got %s" % (
                        where, "a dictionary" if kind == "dict" or many else "a list of dictionaries",
                        _kind_of(element)))
    return errors
