"""What is allowed to differ, and what is known to be wrong.

ACCEPTED: a difference that is deliberate, matched by scenario id and difference path (fnmatch patterns: `[[]`
matches a literal `[`), with the reason. `only_missing=True`: accepted only where the emulator lacks the field or
entry entirely (a built-in it does not serve), never where it serves it differently.

KNOWN_WRONG: scenarios whose unaccepted differences are emulator bugs not fixed yet: the test is
xfail(strict=True), so fixing the emulator turns it into an XPASS failure until the entry is removed.
"""

from __future__ import annotations

from fid_harness import Accepted

NOT_SERVED = ("a built-in API the emulator does not serve: the pods' streaming subresources (attach, exec, "
              "portforward, ephemeralcontainers, resize); every other built-in resource of v1.37 is served")
NO_CONTROLLER = ("a controller of the real control plane fills this in; the emulator serves the kind as stored "
                 "objects, with no controller")
GO_TEXT = "text of a Go library error (encoding/json, go-yaml) that the emulator's Python parsers word differently"

ACCEPTED: list[Accepted] = [
    # -- discovery: what the emulator does not serve --
    Accepted("discovery/*", "*.groups[[]*[]]", NOT_SERVED, only_missing=True),
    Accepted("discovery/*", "*.items[[]*[]]", NOT_SERVED, only_missing=True),
    Accepted("discovery/*", "*.resources[[]*[]]", NOT_SERVED, only_missing=True),
    Accepted("discovery/version", "version keys.keys", "the emulator reports its own version fields; only the "
             "set of keys is compared and the emulator has no binary-version emulation fields to report"),
    # -- error texts from Go libraries --
    Accepted("ssa/apply_yaml_body", "01 PATCH *.body.message", GO_TEXT),
    Accepted("patch/patch_errors", "05 PATCH *.body.message", "the message embeds the patched object as Go's "
             "encoding/json writes it (struct field order); status, reason and field are compared"),
    Accepted("patch/patch_errors", "05 PATCH *.body.details.causes[[]0[]].message", "as above"),
    Accepted("errors/status_400_bad_bodies", "00 POST *.body.message", GO_TEXT),
    Accepted("errors/status_410_expired_continue", "* GET *continue=*.body.message", GO_TEXT),
    Accepted("errors/status_422_immutable", "03 PATCH */jobs/j.body.message", "the message embeds the pod template "
             "as the Go struct prints it (internal field names); status, reason and field are compared"),
    Accepted("errors/status_422_immutable", "03 PATCH */jobs/j.body.details.causes[[]0[]].message", "as above"),
    Accepted("crd/crd_invalid_schemas", "02 POST *.body.message", "the message embeds spec.versions as the Go "
             "struct prints it (internal field names); reason, field and the other causes are compared"),
    Accepted("crd/crd_invalid_schemas", "02 POST *.body.details.causes[[]0[]].message", "as above"),
    Accepted("list/list_as_table", "* GET *.body.columnDefinitions[[]*[]].description", "column descriptions are "
             "the Go types' documentation comments; the emulator has short ones (names, types, formats, priorities "
             "and cells are compared)"),
    Accepted("delete/deployment_cascade", "*pod-template-hash", "the ReplicaSet's pod-template-hash is the FNV hash "
             "of the Go PodTemplateSpec struct as kube-controller-manager prints it; the emulator's deployment "
             "controller derives its own stable hash"),
]

ACCEPTED += [
    Accepted("kinds/sample FlowSchema *", "02 GET * as Table.cells[[]0[]][[]4[]]", NO_CONTROLLER +
             " (MissingPL: the Dangling condition)"),
    Accepted("kinds/sample StorageVersionMigration *", "02 GET * as Table.cells[[]0[]][[]2[]]", NO_CONTROLLER +
             " (the migration's Running condition)"),
]

KNOWN_WRONG: dict[str, str] = {
    "kinds/sample CertificateSigningRequest certificates.k8s.io/v1": "spec.uid: the emulator's admin user has no uid "
    "(the real token file gives it one)",
    "kinds/sample CSINode storage.k8s.io/v1": "managedFields: structured-merge-diff owns the explicit null "
    "(topologyKeys) in a new list item; the emulator's server-side apply skips nulls",
    "kinds/sample VolumeAttributesClass storage.k8s.io/v1": "the real server adds the kubernetes.io/vac-protection "
    "finalizer on create; the emulator does not",
}
