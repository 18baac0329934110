# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) URLs given by users (S3 endpoints), checked before they are stored or used."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@]*@")
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


def shown(url, limit=200):
    """``url`` fit for a message: without the credentials of a ``user:password@`` part, at most ``limit``
    characters."""
    text = _USERINFO.sub("***@", str(url))
    return text if len(text) <= limit else text[:limit] + "..."


def http_url_problem(url):
    """Why ``url`` is not an absolute http:// or https:// URL with a host (None when it is)."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url:
        return "it is empty"
    if _BAD_CHARS.search(url):
        return "it holds white space or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number from 0 to 65535
    except ValueError as err:
        return "it cannot be parsed (%s)" % err
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme must be http or https"
    if not host:
        return "it has no host"
    return None
