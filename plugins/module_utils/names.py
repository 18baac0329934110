# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes object names, checked locally (before any request) with the API server's own rules."""

from __future__ import annotations

import re

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_label(value, what):
    """A DNS-1123 label (namespaces, most names): 1-63 lower case letters, digits and '-', alphanumeric at both ends."""
    text = value if isinstance(value, str) else ""
    if not _LABEL.match(text) or len(text) > 63:
        raise K8sError("%s %r is not a valid name: a DNS-1123 label has at most 63 lower case letters, digits and "
                       "'-', and starts and ends with a letter or digit" % (what, value))
    return value


def check_subdomain(value, what):
    """A DNS-1123 subdomain (PersistentVolumeClaims, Secrets, ServiceAccounts): DNS-1123 labels joined by '.', at
    most 253 characters."""
    text = value if isinstance(value, str) else ""
    if not text or len(text) > 253 or not all(_LABEL.match(part) for part in text.split(".")):
        raise K8sError("%s %r is not a valid name: a DNS-1123 subdomain has at most 253 lower case letters, digits, "
                       "'-' and '.', and starts and ends with a letter or digit" % (what, value))
    return value
