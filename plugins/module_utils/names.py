# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes object names, checked locally (before any request) with the API server's own rules.

Every name that becomes part of a URL path is checked here first, so a name can never add a path segment
(``a/b``, ``..``) or a query string (``x?watch=1``) to a request. The patterns end with ``\\Z``, not ``$``: ``$``
also matches before a trailing newline, and ``"models\\n"`` is not a valid name.
"""

from __future__ import annotations

import re

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
# characters that would change the meaning of a URL path segment, and white space / control characters
_NOT_IN_SEGMENT = re.compile(r"[/%?#\s\x00-\x1f\x7f]")
MAX_LABEL = 63
MAX_SUBDOMAIN = 253


def _shown(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else "%s... (%d characters)" % (text[:limit], len(value))


def is_label(value, max_length=MAX_LABEL):
    """Whether ``value`` is a DNS-1123 label (of at most ``max_length`` characters)."""
    return isinstance(value, str) and len(value) <= max_length and bool(_LABEL.match(value))


def is_subdomain(value):
    """Whether ``value`` is a DNS-1123 subdomain."""
    return isinstance(value, str) and 0 < len(value) <= MAX_SUBDOMAIN and all(
        _LABEL.match(part) for part in value.split("."))


def check_label(value, what, max_length=MAX_LABEL):
    """A DNS-1123 label (namespaces, most names): 1-63 lower case letters, digits and '-', alphanumeric at both ends.

    ``max_length`` allows longer names of the same characters (SeldonDeployments: up to 253, like any object)."""
    if not is_label(value, max_length):
        rule = "a DNS-1123 label has" if max_length == MAX_LABEL else "it must have"
        raise K8sError("%s %s is not a valid name: %s at most %d lower case letters, digits and '-', and starts and "
                       "ends with a letter or digit" % (what, _shown(value), rule, max_length))
    return value


def check_subdomain(value, what):
    """A DNS-1123 subdomain (PersistentVolumeClaims, Secrets, ServiceAccounts): DNS-1123 labels joined by '.', at
    most 253 characters."""
    if not is_subdomain(value):
        raise K8sError("%s %s is not a valid name: a DNS-1123 subdomain has at most 253 lower case letters, digits, "
                       "'-' and '.', and starts and ends with a letter or digit" % (what, _shown(value)))
    return value


def check_path_segment(value, what):
    """A name of any kind (RBAC names may hold ':' or '@'), as the API server's path segment rule: not empty, not
    ``.`` or ``..``, at most 253 characters, and no '/', '%', '?', '#', white space or control character."""
    if not isinstance(value, str) or value in ("", ".", "..") or len(value) > MAX_SUBDOMAIN \
            or _NOT_IN_SEGMENT.search(value):
        raise K8sError("%s %s is not a valid name: it must be 1 to 253 characters, not '.' or '..', without '/', "
                       "'%%', '?', '#', white space or control characters" % (what, _shown(value)))
    return value
