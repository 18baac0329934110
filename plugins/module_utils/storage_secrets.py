# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 credentials Secrets in the formats model servers read.

* ``rclone``: ``RCLONE_CONFIG_<REMOTE>_*`` variables (Seldon Core v1 storage initializer, Tempo, MLServer's rclone);
* ``aws``: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL`` / ``USE_SSL`` /
  ``AWS_DEFAULT_REGION`` (Seldon's ``envSecretRefName``, boto3 and the AWS CLI).

Values never leave this module in clear: results and diffs carry key names and a mask only, and whether a value
changed is only visible through ``changed``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import re

from ansible_collections.mlops.k8s.plugins.module_utils import http_urls, managed, names
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.service import SECRET_MASK, mask_last_applied

FORMATS = ("rclone", "aws")
PROVIDERS = ("AWS", "Minio", "GCS", "Ceph", "Other")
_REMOTE = re.compile(r"^[A-Za-z0-9_]+\Z")
_URL = re.compile(r"^(?P<scheme>https?)://[^/\s]+")


class Credentials:
    """Resolved S3 settings. ``repr`` never shows the keys."""

    def __init__(self, *, access_key=None, secret_key=None, session_token=None, region=None, endpoint_url=None,
                 source=None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region
        self.endpoint_url = endpoint_url
        self.source = source

    def __repr__(self):
        return "<Credentials from %s, region=%s, endpoint=%s>" % (self.source, self.region, self.endpoint_url)


def resolve_credentials(params, environ=None):
    """Credentials, region and endpoint from the arguments, else the controller's AWS_* environment / profile.

    Endpoint and region follow ``s3.connection_settings`` (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``,
    ``AWS_REGION``); keys follow botocore's chain (``AWS_ACCESS_KEY_ID``..., ``AWS_PROFILE``, ``~/.aws``)
    without the EC2/ECS instance roles: their short-lived keys have no place in a Secret.
    With ``env_auth`` no key is resolved (the pods authenticate with their own IAM role).
    """
    from ansible_collections.mlops.k8s.plugins.module_utils import s3

    try:
        settings = s3.connection_settings({
            "endpoint_url": params.get("endpoint_url"), "region": params.get("region"),
            "validate_certs": True,
        })
    except s3.S3Error as err:
        raise K8sError(str(err)) from None
    creds = Credentials(region=settings["region"], endpoint_url=settings["endpoint_url"])
    if params.get("env_auth") and (params.get("access_key") or params.get("secret_key")):
        raise K8sError("env_auth=true stores no key: do not give access_key/secret_key with it")
    if params.get("env_auth"):
        creds.source = "env_auth"
        if not creds.region:
            creds.region = _profile_region(params.get("profile"))
        return creds
    if params.get("access_key") or params.get("secret_key"):
        if not (params.get("access_key") and params.get("secret_key")):
            raise K8sError("access_key and secret_key must be given together")
        creds.access_key, creds.secret_key = params["access_key"], params["secret_key"]
        creds.session_token = params.get("session_token")
        creds.source = "arguments"
        if not creds.region:
            creds.region = _profile_region(params.get("profile"))
        return creds
    session = _botocore_session(params.get("profile"))
    found = session.get_credentials()
    if found is None:
        raise K8sError(
            "no S3 credentials: set access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE / profile) on the host running the task, or env_auth=true to let the pods use their "
            "IAM role")
    frozen = found.get_frozen_credentials()
    creds.access_key, creds.secret_key, creds.session_token = frozen.access_key, frozen.secret_key, frozen.token
    creds.source = getattr(found, "method", None) or "environment"
    if not creds.region:
        creds.region = session.get_config_variable("region")
    return creds


def _botocore_session(profile):
    try:
        import botocore.session
        from botocore.exceptions import ProfileNotFound
    except ImportError:
        raise K8sError("the botocore Python library is required to read S3 credentials from the environment or "
                       "a profile (or give access_key and secret_key)") from None
    try:
        session = botocore.session.Session(profile=profile)
        resolver = session.get_component("credential_provider")
        for name in ("iam-role", "container-role"):
            with contextlib.suppress(ValueError, AttributeError, KeyError):
                resolver.remove(name)
        session.get_scoped_config()  # raises ProfileNotFound now rather than later
    except ProfileNotFound:
        raise K8sError("AWS profile %r not found in the AWS config/credentials files" % profile) from None
    return session


def _profile_region(profile):
    try:
        return _botocore_session(profile).get_config_variable("region")
    except K8sError:
        if profile:
            raise
        return None


def validate_remote(remote):
    if not remote or not _REMOTE.match(remote):
        raise K8sError("remote %r must be letters, digits and underscores only: rclone reads its configuration "
                       "from RCLONE_CONFIG_<REMOTE>_* environment variables" % remote)
    return remote.upper()


def use_ssl_for(endpoint_url, use_ssl=None):
    """USE_SSL: explicit value, else what the endpoint's scheme says (https, or AWS itself, -> true)."""
    if use_ssl is not None:
        return bool(use_ssl)
    if endpoint_url:
        match = _URL.match(endpoint_url)
        return bool(match) and match.group("scheme") == "https"
    return True


def default_provider(endpoint_url):
    return "Other" if endpoint_url else "AWS"


def render_data(fmt, creds, *, remote="s3", provider=None, env_auth=False, use_ssl=None):
    """The Secret's keys and values (clear text) for ``fmt``; keys are omitted rather than left empty."""
    if fmt not in FORMATS:
        raise K8sError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if creds.endpoint_url is not None:
        problem = http_urls.http_url_problem(creds.endpoint_url)
        if problem:
            raise K8sError("endpoint_url must be an http:// or https:// URL with a host, got %r: %s"
                           % (http_urls.shown(creds.endpoint_url), problem))
    if not env_auth and not (creds.access_key and creds.secret_key):
        raise K8sError("access_key and secret_key are required unless env_auth=true")
    if fmt == "rclone":
        return _rclone_data(creds, remote, provider, env_auth)
    return _aws_data(creds, env_auth, use_ssl)


def _rclone_data(creds, remote, provider, env_auth):
    prefix = "RCLONE_CONFIG_%s_" % validate_remote(remote)
    provider = provider or default_provider(creds.endpoint_url)
    if provider not in PROVIDERS:
        raise K8sError("provider must be one of %s, got %r" % (", ".join(PROVIDERS), provider))
    data = {prefix + "TYPE": "s3", prefix + "PROVIDER": provider, prefix + "ENV_AUTH": "true" if env_auth else "false"}
    if not env_auth:
        data[prefix + "ACCESS_KEY_ID"] = creds.access_key
        data[prefix + "SECRET_ACCESS_KEY"] = creds.secret_key
        if creds.session_token:
            data[prefix + "SESSION_TOKEN"] = creds.session_token
    if creds.endpoint_url:
        data[prefix + "ENDPOINT"] = creds.endpoint_url
    if creds.region:
        data[prefix + "REGION"] = creds.region
    return data


def _aws_data(creds, env_auth, use_ssl):
    data = {}
    if not env_auth:
        data["AWS_ACCESS_KEY_ID"] = creds.access_key
        data["AWS_SECRET_ACCESS_KEY"] = creds.secret_key
        if creds.session_token:
            data["AWS_SESSION_TOKEN"] = creds.session_token
    if creds.endpoint_url:
        data["AWS_ENDPOINT_URL"] = creds.endpoint_url
    data["USE_SSL"] = "true" if use_ssl_for(creds.endpoint_url, use_ssl) else "false"
    if creds.region:
        data["AWS_DEFAULT_REGION"] = creds.region
    return data


def encode(data):
    return {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in data.items()}


def build_secret(name, namespace, data, labels=None, annotations=None):
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    labels.update(managed.MANAGED_BY)
    meta = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": encode(data)}


def fingerprint(data, salt):
    """Per-key HMAC-SHA256 of the (base64) values, keyed by ``salt``: comparable, not reversible, never returned."""
    key = salt.encode("utf-8") if isinstance(salt, str) else salt
    return {k: hmac.new(key, (v or "").encode("utf-8"), hashlib.sha256).hexdigest() for k, v in (data or {}).items()}


def same_data(live_data, wanted_data, salt="mlops.k8s"):
    """Whether the Secret data are equal, compared by hashes in constant time."""
    a, b = fingerprint(live_data, salt), fingerprint(wanted_data, salt)
    if set(a) != set(b):
        return False
    return all(hmac.compare_digest(a[k], b[k]) for k in a)


def masked(obj):
    """A Secret without values: every data/stringData value is the same mask, so nothing tells which changed."""
    if not obj:
        return {}
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("managedFields", "resourceVersion", "generation"):
        meta.pop(key, None)
    for field in ("data", "stringData"):
        if isinstance(out.get(field), dict):
            out[field] = dict.fromkeys(sorted(out[field]), SECRET_MASK)
    mask_last_applied(meta)  # the values of a Secret once applied with kubectl apply
    return out


def secret_diff(before, after):
    return {"before": masked(before), "after": masked(after)}


# -- the mlops.k8s.storage_secret module ------------------------------------------------------------------------
def _public(obj):
    out = masked(obj)
    return out or None


def run_storage_secret(module):
    """Create/update (or delete) the Secret; results carry key names only, never values."""
    params = module.params
    name, namespace = params["name"], params["namespace"]
    names.check_subdomain(name, "name")
    names.check_label(namespace, "namespace")
    if params["state"] == "absent":
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}}
        result = managed.delete(module, module.client, obj, "secret")
        out = {"changed": result["changed"], "operation": result["action"], "key_names": []}
        if module.diff_mode:
            before = result.get("object") if result["changed"] else None
            out["diff"] = secret_diff(before, None)
        return out

    # everything is resolved and validated before the first request
    creds = resolve_credentials(params)
    if creds.session_token:
        module.warn("the S3 credentials include a session token (temporary credentials): the Secret stops "
                    "working when they expire; prefer long-lived keys for the model's service, or env_auth")
    data = render_data(params["format"], creds, remote=params["remote"], provider=params["provider"],
                       env_auth=params["env_auth"], use_ssl=params["use_ssl"])
    wanted = build_secret(name, namespace, data, params.get("labels"), params.get("annotations"))

    client = module.client
    item = managed.manifest(client, wanted, "secret")
    live = client.get(item.resource, name, namespace)
    if live is not None and _unchanged(live, wanted):
        action, after = "unchanged", live
    else:
        applied = managed.apply(module, client, wanted, "secret")  # its own diff is dropped: see secret_diff
        action = applied["action"]
        after = applied["object"]
    changed = action in ("created", "configured")
    out = {
        "changed": changed,
        "operation": action,
        "key_names": sorted(data),
        "credentials_source": creds.source,
        "secret": _public(after),
    }
    if module.diff_mode:
        out["diff"] = secret_diff(live, after if changed else live)
    return out


def _unchanged(live, wanted):
    """Same values (compared by hash), type, and our labels/annotations: nothing to send, not even a dry run."""
    if live.get("type", "Opaque") != wanted.get("type"):
        return False
    live_meta, meta = live.get("metadata") or {}, wanted["metadata"]
    for field in ("labels", "annotations"):
        have = live_meta.get(field) or {}
        if any(have.get(k) != v for k, v in (meta.get(field) or {}).items()):
            return False
    live_data = live.get("data") or {}
    wanted_data = wanted.get("data") or {}
    # any other key set (a key we stored before and no longer want, or one written by hand) goes through a
    # server-side apply dry run, which tells whether the apply would remove it
    return same_data(live_data, wanted_data)
