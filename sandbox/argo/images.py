"""Container images of the sandbox's Argo step pods: what a `main` container's image runs with.

* **Loaded images** live in ``DIR/images/<registry/repository>/<tag>/`` (``python -m sandbox load-image REF SRC_DIR``
  copies a directory there, as ``kind load docker-image`` puts an image on the node). An optional ``image.json`` in
  it gives the image config: ``{"workingDir": "/app", "entrypoint": [...], "cmd": [...], "env": {...}}``. The
  container sees the directory's files at the image's workingDir (``/`` when it has none).
* **Built-in base images** (``python``, ``*/python``, ``busybox``, ``alpine``, ``bash``, ``debian``, ``ubuntu`` and
  anything ``*argoexec*``) run with the host's tools; ``python``/``python3`` are the sandbox's own interpreter.
* Anything else is not on the node: the kubelet reports ``ErrImagePull`` / ``ImagePullBackOff``.

References are normalised like docker's: ``python:3.11`` -> ``docker.io/library/python`` tag ``3.11``;
``ghcr.io/acme/train:v1`` -> ``ghcr.io/acme/train`` tag ``v1``; no tag -> ``latest``; a digest
(``@sha256:abc``) -> tag ``sha256-abc``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

BUILTIN_NAMES = ("python", "busybox", "alpine", "bash", "debian", "ubuntu")
IMAGE_CONFIG = "image.json"
INDEX = "index.json"          # what load-image loaded (for `python -m sandbox images`)


class ImageError(ValueError):
    """A reference that cannot be parsed."""


@dataclass
class Image:
    ref: str
    builtin: bool
    dir: str | None = None                     # loaded images: the directory on this machine
    working_dir: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def normalize(ref: str) -> tuple[str, str]:
    """``(registry/repository, tag)`` of an image reference."""
    ref = (ref or "").strip()
    name, _, digest = ref.partition("@")
    tag = "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if digest:
        tag = digest.replace(":", "-")
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *(["library"] if len(parts) == 1 else []), *parts]
    bad = not ref or any(c.isspace() for c in ref) or not tag or "/" in tag
    if bad or any(p in ("", ".", "..") for p in [*parts, tag]):
        raise ImageError(f"invalid image reference {ref!r}")
    return "/".join(parts).lower(), tag


def images_root(sandbox_dir: str) -> str:
    return os.path.join(sandbox_dir, "images")


def image_dir(sandbox_dir: str, ref: str) -> str:
    repo, tag = normalize(ref)
    return os.path.join(images_root(sandbox_dir), *repo.split("/"), tag)


def is_builtin(ref: str) -> bool:
    try:
        repo, _ = normalize(ref)
    except ImageError:
        return False
    return repo.rsplit("/", 1)[-1] in BUILTIN_NAMES or "argoexec" in repo


def _config(directory: str) -> dict:
    path = os.path.join(directory, IMAGE_CONFIG)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ImageError(f"{path}: the image config must be a JSON object")
    return data


def resolve(sandbox_dir: str, ref: str) -> Image | None:
    """The image `ref` as the node has it (a loaded image first, then a built-in base image), or None."""
    try:
        d = image_dir(sandbox_dir, ref)
    except ImageError:
        return None
    if os.path.isdir(d):
        cfg = _config(d)
        return Image(ref, False, d, str(cfg.get("workingDir") or ""), [str(x) for x in cfg.get("entrypoint") or []],
                     [str(x) for x in cfg.get("cmd") or []],
                     {str(k): str(v) for k, v in (cfg.get("env") or {}).items()})
    if is_builtin(ref):
        return Image(ref, True)
    return None


def not_loaded_message(ref: str) -> str:
    return f"image {ref} is not loaded in the sandbox (python -m sandbox load-image {ref} DIR)"


def load(sandbox_dir: str, ref: str, src: str) -> str:
    """Copy directory `src` in as image `ref` (replacing what was loaded under that reference); its path."""
    if not os.path.isdir(src):
        raise ImageError(f"{src} is not a directory")
    if os.path.isfile(os.path.join(src, IMAGE_CONFIG)):
        _config(src)   # fail early on a broken image.json
    repo, tag = normalize(ref)
    dest = image_dir(sandbox_dir, ref)
    tmp = dest + ".loading"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    index = _index(sandbox_dir)
    index[f"{repo}:{tag}"] = {"ref": ref, "dir": os.path.relpath(dest, images_root(sandbox_dir))}
    path = os.path.join(images_root(sandbox_dir), INDEX)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    return dest


def _index(sandbox_dir: str) -> dict:
    try:
        with open(os.path.join(images_root(sandbox_dir), INDEX), encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def loaded(sandbox_dir: str) -> list[dict]:
    """``[{"image": "registry/repository:tag", "ref": as loaded, "dir": ...}]``: the images load-image put there."""
    root = images_root(sandbox_dir)
    out = []
    for name, entry in sorted(_index(sandbox_dir).items()):
        d = os.path.join(root, entry.get("dir", ""))
        if os.path.isdir(d):
            out.append({"image": name, "ref": entry.get("ref", name), "dir": d})
    return out
