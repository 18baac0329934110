"""Vendor the upstream CRDs of the pinned platform releases into the roles, unchanged, and lock their sha256.

The CRDs come from the release's own files, fetched as Go modules through the Go module proxy (``go mod
download``), the one source of the releases this project's machines reach:

    python hack/vendor_crds.py          # download, write roles/*/files/crds/*, rewrite hack/upstream-crds.lock.json
    python hack/vendor_crds.py --check  # exit 1 if a vendored file differs from the release or from the lock

A product whose module the proxy refuses keeps the files it has; the lock records the refusal (``error``) and the
role keeps its own CRD template for that product. Files are copied byte for byte. Where the release ships the CRDs
inside a bigger manifest (Emissary's emissary-crds.yaml also holds the apiext Namespace, RBAC and Deployment), the
CustomResourceDefinition documents are kept, each byte for byte, joined by ``---`` lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "hack" / "upstream-crds.lock.json"

# role -> the release's Go module and version, and (file in the module, file written into the role, kind of copy).
SOURCES = {
    "argo_workflows": {
        "product": "Argo Workflows",
        "module": "github.com/argoproj/argo-workflows/v3",
        "version": "v3.7.18",
        "files": [
            ("manifests/base/crds/%s/argoproj.io_%s.yaml" % (schema, plural),
             "roles/argo_workflows/files/crds/%s/argoproj.io_%s.yaml" % (schema, plural), "file")
            for schema in ("minimal", "full")
            for plural in ("clusterworkflowtemplates", "cronworkflows", "workflowartifactgctasks",
                           "workfloweventbindings", "workflows", "workflowtaskresults", "workflowtasksets",
                           "workflowtemplates")
        ],
    },
    "ambassador": {
        "product": "Emissary-ingress",
        "module": "github.com/emissary-ingress/emissary/v3",
        "version": "v3.10.0",
        "files": [("manifests/emissary/emissary-crds.yaml.in", "roles/ambassador/files/crds/emissary-crds.yaml",
                   "crd-documents")],
    },
    "seldon_core": {
        "product": "Seldon Core",
        "module": "github.com/seldonio/seldon-core/operator",
        "version": "v1.18.2",
        "files": [("config/crd_v1/bases/machinelearning.seldon.io_seldondeployments.yaml",
                   "roles/seldon_core/files/crds/machinelearning.seldon.io_seldondeployments.yaml", "file")],
    },
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(module: str, version: str) -> tuple[Path | None, dict]:
    """``go mod download -json module@version``: (the module's directory, the facts to lock) or (None, the error)."""
    command = ["go", "mod", "download", "-json", "%s@%s" % (module, version)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, {"command": " ".join(command), "error": str(exc)}
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {"Error": (proc.stdout + proc.stderr).strip() or "exit status %d" % proc.returncode}
    if info.get("Error") or not info.get("Dir"):
        return None, {"command": " ".join(command), "error": info.get("Error") or proc.stderr.strip()}
    return Path(info["Dir"]), {"sum": info.get("Sum"), "origin": info.get("Origin", {}).get("Hash")}


def crd_documents(text: str) -> str:
    """The CustomResourceDefinition documents of a multi-document YAML text, each unchanged, joined by ``---``."""
    docs, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == "---":
            docs.append("".join(current))
            current = []
        else:
            current.append(line)
    docs.append("".join(current))
    crds = [doc for doc in docs if "\nkind: CustomResourceDefinition\n" in "\n" + doc]
    return "---\n".join(crds)


def vendor(role: str, source: dict, check: bool, old: dict) -> tuple[dict, list[str]]:
    """Copy one role's CRDs (or compare them, with check); return its lock entry and the problems found."""
    entry = {key: source[key] for key in ("product", "module", "version")}
    directory, facts = download(source["module"], source["version"])
    entry.update(facts)
    if directory is None:
        # Refused by the registry: keep what the role has (the lock says why nothing new is vendored).
        entry["files"] = old.get("files", {})
        return entry, []
    problems, files = [], {}
    for inner, target, how in source["files"]:
        raw = (directory / inner).read_bytes()
        data = crd_documents(raw.decode()).encode() if how == "crd-documents" else raw
        files[target] = {"from": inner, "source_sha256": sha256(raw), "sha256": sha256(data)}
        path = ROOT / target
        if check:
            if not path.is_file() or path.read_bytes() != data:
                problems.append("%s differs from %s@%s %s" % (target, source["module"], source["version"], inner))
            if old.get("files", {}).get(target, {}).get("sha256") != files[target]["sha256"]:
                problems.append("%s: the lock's sha256 is not the release's" % target)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    entry["files"] = files
    return entry, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    old = json.loads(LOCK.read_text()) if LOCK.is_file() else {}
    lock, problems = {}, []
    for role, source in SOURCES.items():
        entry, found = vendor(role, source, args.check, old.get(role, {}))
        lock[role] = entry
        problems += found
        state = ("refused: " + entry["error"]) if "error" in entry else "%d file(s)" % len(entry["files"])
        print("%s %s@%s: %s" % (role, source["module"], source["version"], state))
    if args.check:
        for problem in problems:
            print("MISMATCH " + problem, file=sys.stderr)
        return 1 if problems else 0
    LOCK.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
