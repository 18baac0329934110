"""Model servers of the sandbox: the "images" the simulated Seldon operator runs as local processes.

* :func:`launch` - start a server for one predictor, returning a :class:`ServerProcess`;
* :mod:`sandbox.servers.build` - create the server venvs (``python -m sandbox.servers.build``);
* :mod:`sandbox.servers.images` - the prepackaged server table and the custom-image mapping.

Names are imported lazily so that ``python -m sandbox.servers.build`` does not import itself twice.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "launch": "sandbox.servers.launcher",
    "ServerProcess": "sandbox.servers.launcher",
    "ServerFailed": "sandbox.servers.launcher",
    "ServerNotAvailable": "sandbox.servers.images",
    "PREPACKAGED": "sandbox.servers.images",
    "normalize_protocol": "sandbox.servers.images",
}

__all__ = ["PREPACKAGED", "ServerFailed", "ServerNotAvailable", "ServerProcess", "launch", "normalize_protocol"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sandbox.servers' has no attribute {name!r}")
