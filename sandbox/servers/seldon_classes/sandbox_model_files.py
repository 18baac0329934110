"""Helpers shared by the sandbox's Seldon-protocol server classes (run inside the seldon venv).

The sandbox's Seldon operator has already fetched ``modelUri`` (s3://, pvc://, file) into a local
directory, so a ``model_uri`` here is a local path: a directory holding the artifact or the
artifact file itself (``file://`` prefixes are accepted too).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("sandbox.model")

DEFAULT_MODEL_DIR = "/mnt/models"  # where the real Seldon storage initializer puts the model


def local_path(model_uri: str | None) -> Path:
    uri = model_uri or os.environ.get("SANDBOX_MODEL_DIR") or DEFAULT_MODEL_DIR
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        raise ValueError(
            f"model_uri {uri!r} is not a local path: the sandbox operator downloads remote "
            "models before starting the server"
        )
    return Path(uri)


def find_artifact(model_uri: str | None, names: tuple[str, ...]) -> Path:
    """The artifact file: ``model_uri`` itself if it is a file, else the first of ``names`` in it."""
    path = local_path(model_uri)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"model directory {path} does not exist")
    for name in names:
        candidate = path / name
        if candidate.is_file():
            return candidate
    present = sorted(p.name for p in path.iterdir())
    raise FileNotFoundError(
        f"no model file in {path}: expected one of {', '.join(names)}; found {present or 'nothing'}"
    )


def as_array(X, features_names=None):
    """The request payload as a 2-D numpy array (Seldon hands ndarray/tensor data over as numpy)."""
    import numpy as np

    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    return arr
