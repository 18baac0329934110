# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API discovery, one group version at a time, kept in a file across tasks.

A kind is looked up in the resource list of its group version (``/api/v1`` or ``/apis/<group>/<version>``),
read from the server the first time and then from the cache file. A kind (or a group version) missing from the
cache is read from the server again, once per task and group version, since a CustomResourceDefinition may have
been created since. The file is written atomically (tasks run in parallel forks) and only where ``client.py``'s
``discovery_cache_file`` allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading

from ansible_collections.mlops.k8s.plugins.module_utils.errors import to_k8s_error

CACHE_FORMAT = "mlops.k8s/discovery-v1"


class Resource:
    """A served kind: ``kind``, ``name`` (the plural), ``namespaced``, ``group_version``, ``verbs``."""

    def __init__(self, group_version, kind, name, namespaced, verbs=()):
        self.group_version = group_version
        self.group, _sep, self.version = group_version.rpartition("/")
        self.api_version = group_version
        self.kind = kind
        self.name = name
        self.namespaced = namespaced
        self.verbs = list(verbs or [])

    def path(self, namespace=None, name=None, subresource=None):
        base = "/api/%s" % self.group_version if not self.group else "/apis/%s" % self.group_version
        if self.namespaced and namespace:
            base += "/namespaces/%s" % namespace
        base += "/%s" % self.name
        if name:
            base += "/%s" % name
        if subresource:
            base += "/%s" % subresource
        return base

    def __repr__(self):
        return "Resource(%s %s)" % (self.group_version, self.kind)


def group_version_path(group_version):
    return "/api/%s" % group_version if "/" not in group_version else "/apis/%s" % group_version


class Discovery:
    def __init__(self, transport, cache_file=None):
        self.transport = transport
        self.cache_file = cache_file
        self._groups = self._read_cache()   # group version -> [resource dicts] or None (not served)
        self._fresh = set()                 # group versions read from the server in this task
        self._lock = threading.Lock()

    def _read_cache(self):
        if not self.cache_file:
            return {}
        try:
            with open(self.cache_file) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("groups"), dict):
            return {}
        return data["groups"]

    def _write_cache(self):
        if not self.cache_file:
            return
        tmp = "%s.%d.tmp" % (self.cache_file, os.getpid())
        try:
            with open(tmp, "w") as handle:
                json.dump({"format": CACHE_FORMAT, "groups": self._groups}, handle)
            os.replace(tmp, self.cache_file)
        except (OSError, TypeError, ValueError):  # a cache that cannot be written is not an error
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _fetch(self, group_version):
        try:
            listing = self.transport.request("GET", group_version_path(group_version))
        except Exception as exc:
            err = to_k8s_error(exc, "API discovery of %s" % group_version)
            if err.status == 404:
                return None
            raise err from None
        out = []
        for item in listing.get("resources") or []:
            if not isinstance(item, dict) or "/" in str(item.get("name", "")):
                continue  # subresources
            out.append({"kind": item.get("kind"), "name": item.get("name"),
                        "namespaced": bool(item.get("namespaced")), "verbs": item.get("verbs") or []})
        return out

    def _refresh(self, group_version):
        self._groups[group_version] = self._fetch(group_version)
        self._fresh.add(group_version)
        self._write_cache()

    def find(self, api_version, kind):
        """The Resource of ``kind`` in ``api_version`` (``v1``, ``apps/v1``), or None when it is not served."""
        if not api_version or api_version.count("/") > 1:
            return None
        with self._lock:
            if api_version not in self._groups:
                self._refresh(api_version)
            found = self._match(api_version, kind)
            if found is None and api_version not in self._fresh:
                self._refresh(api_version)
                found = self._match(api_version, kind)
            return found

    def _match(self, group_version, kind):
        for item in self._groups.get(group_version) or []:
            if item.get("kind") == kind:
                return Resource(group_version, kind, item["name"], item["namespaced"], item.get("verbs"))
        return None

    def forget(self, group_version):
        """A CustomResourceDefinition of ``group_version`` changed: its next miss reads the server again."""
        with self._lock:
            self._fresh.discard(group_version)

    def invalidate(self):
        """Forget the cache: the next lookups read the server."""
        with self._lock:
            self._groups = {}
            self._fresh = set()
            self._write_cache()
