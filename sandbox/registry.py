"""The sandbox's simulated image registry: the catalogue of image references its node can pull, like the mirror of
an air-gapped cluster. The kubelet asks it before starting a simulated container (`sandbox.controllers.pods`); a
reference it does not hold fails with ``ErrImagePull`` / ``ImagePullBackOff`` as containerd's "not found".

What it holds (see sandbox/controllers/README.md, "What simulated containers do"):

* ``PLATFORM``: repositories of the images the collection's roles deploy, at **any tag** and behind **any registry
  prefix** (the roles pin versions in variables, upgrades move them, ``*_image_registry`` mirrors them);
* ``BASE``: common public images at real tags (busybox, alpine, nginx, python, ...);
* images loaded with ``python -m sandbox load-image`` (``DIR/images/``, `sandbox.argo.images`);
* the user's: the kubelet setting ``images`` (references separated by commas or spaces) and the file named by the
  kubelet setting ``images_file`` (default ``$MLOPS_SANDBOX_IMAGES_FILE``): one reference a line, ``#`` comments;
  ``name:*`` allows every tag of a repository.

A reference matches by repository and tag (no tag: ``latest``); a digest reference (``name@sha256:...``) matches only
a listed digest. References are normalised as docker does (`sandbox.argo.images.normalize`).
"""

from __future__ import annotations

import os

from .argo.images import ImageError, image_dir, normalize

ANY = "*"

# Repositories the roles and examples deploy (any tag, any registry prefix).
PLATFORM = (
    "seldonio/*", "argoproj/*", "emissaryingress/emissary", "datawire/*", "minio/minio", "minio/mc",
    "nvidia/tritonserver", "tensorflow/serving", "mlops-k8s/*", "registry.k8s.io/pause",
)

# Public base images at real tags (repository -> tags).
BASE = {
    "busybox": "latest 1 1.36 1.36.1 1.37 1.37.0 stable musl glibc uclibc",
    "alpine": "latest 3.18 3.19 3.20 3.21 3.22 edge",
    "nginx": "latest stable mainline alpine 1 1.25 1.25.5 1.25-alpine 1.26 1.26.3 1.27 1.27.4 1.27-alpine 1.28",
    "python": "latest 3 3.10 3.11 3.12 3.13 3.10-slim 3.11-slim 3.12-slim 3.13-slim 3.11-alpine 3.12-alpine "
              "3.11-bookworm 3.12-bookworm",
    "bash": "latest 5 5.2",
    "debian": "latest stable bookworm bookworm-slim bullseye bullseye-slim 11 12 12-slim",
    "ubuntu": "latest 20.04 22.04 24.04 focal jammy noble",
    "postgres": "latest 15 16 17 16-alpine",
    "redis": "latest 7 7.2 7-alpine",
    "httpd": "latest 2.4 alpine",
    "curlimages/curl": "latest 8.5.0 8.10.1",
    "bitnami/kubectl": "latest 1.29 1.30 1.31",
    "fluent/fluent-bit": "latest 2.2 3.0 3.1",
    "hashicorp/http-echo": "latest 1.0",
}


def _split(repo: str) -> tuple[str, str]:
    """``(host, path)`` of a normalised repository, the path without docker.io's ``library/``."""
    host, _, path = repo.partition("/")
    if host == "docker.io" and path.startswith("library/"):
        path = path[len("library/"):]
    return host, path


def _entry(ref: str) -> tuple[str, str]:
    ref = ref.strip()
    if ref.endswith(":" + ANY):
        return normalize(ref[:-2])[0], ANY
    return normalize(ref)


class Catalogue:
    def __init__(self, sandbox_dir: str | None = None):
        self.sandbox_dir = sandbox_dir

    @staticmethod
    def user_refs(images: str = "", images_file: str = "") -> list[str]:
        refs = [r for r in images.replace(",", " ").split() if r]
        if images_file:
            try:
                with open(images_file, encoding="utf-8") as f:
                    refs += [line.split("#", 1)[0].strip() for line in f]
            except OSError:
                pass
        return [r for r in refs if r]

    def holds(self, ref: str, extra: list[str] = ()) -> bool:
        """Whether the registry has image `ref`."""
        try:
            repo, tag = normalize(ref)
        except ImageError:
            return False
        host, path = _split(repo)
        for r in extra:
            try:
                erepo, etag = _entry(r)
            except ImageError:
                continue
            if erepo == repo and etag in (tag, ANY):
                return True
        if "@" in ref:
            return False
        if self.sandbox_dir and os.path.isdir(image_dir(self.sandbox_dir, ref)):
            return True
        if any(_matches(name, pattern) for pattern in PLATFORM for name in (path, f"{host}/{path}")):
            return True
        return tag in (BASE.get(path) or "").split()


def _matches(name: str, pattern: str) -> bool:
    """Whether `pattern` (a repository, or ``repository/*`` for those below it) ends repository `name` on a "/"
    (a mirror puts its own prefix before it)."""
    if pattern.endswith("/*"):
        name, pattern = name.rsplit("/", 1)[0] if "/" in name else "", pattern[:-2]
    return ("/" + name).endswith("/" + pattern)


def pull_error(ref: str) -> str:
    """containerd's message for a reference the registry does not have."""
    try:
        repo, tag = normalize(ref)
        full = f"{repo}:{tag}"
    except ImageError:
        return f'failed to pull and unpack image "{ref}": invalid reference format'
    return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": failed to resolve '
            f'reference "{full}": {full}: not found')
