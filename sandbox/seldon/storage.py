"""The storage initializer (seldonio/rclone-storage-initializer) for real: copy a model URI to a local directory.

Sources: ``s3://bucket/prefix`` (boto3, with rclone-style ``RCLONE_CONFIG_<REMOTE>_*`` or AWS-style ``AWS_*`` /
legacy ``S3_ENDPOINT`` credentials from the init container's env), ``<remote>:bucket/prefix`` (an rclone remote of
type s3 configured by ``RCLONE_CONFIG_<REMOTE>_*``), a local path (what ``pvc://`` becomes once the claim is
mounted, the operator rewrites it to ``/mnt/pvc/<path>``; the runner maps it to the volume's directory) and
``file://``. Anything else (``gs://``, ``azure://``, ``http(s)://``...) fails like an unreachable remote would,
with ``model download failed: ...``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

NOT_AVAILABLE = ("gs", "gcs", "azure", "az", "azureblob", "http", "https", "hdfs", "webhdfs", "oss", "swift")


class DownloadError(RuntimeError):
    """The storage initializer failed; str() is its termination message."""


def _remote_config(env: dict, remote: str) -> dict:
    prefix = f"RCLONE_CONFIG_{remote.upper().replace('-', '_')}_"
    return {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}


def _s3_client(env: dict, remote: str, resolve: Callable[[str], str] | None = None):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    rc = _remote_config(env, remote)
    env_auth = str(rc.get("env_auth", "false")).lower() == "true"
    key = rc.get("access_key_id") or env.get("AWS_ACCESS_KEY_ID") or env.get("awsAccessKeyID")
    secret = rc.get("secret_access_key") or env.get("AWS_SECRET_ACCESS_KEY") or env.get("awsSecretAccessKey")
    if env_auth and not key:
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    endpoint = rc.get("endpoint") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or \
        env.get("S3_ENDPOINT") or None
    if endpoint and "://" not in endpoint:
        use_ssl = str(env.get("USE_SSL", env.get("S3_USE_HTTPS", "1"))).lower() not in ("0", "false")
        endpoint = ("https://" if use_ssl else "http://") + endpoint
    if endpoint and resolve is not None:   # a Service's cluster DNS name -> where its pod really listens
        try:
            endpoint = resolve(endpoint)
        except Exception as e:
            raise DownloadError(f"model download failed: endpoint {endpoint}: {e}") from None
    region = rc.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict = {"region_name": region, "endpoint_url": endpoint}
    cfg = {"retries": {"max_attempts": 2}, "connect_timeout": 5, "read_timeout": 60}
    if key and secret:
        kwargs.update(aws_access_key_id=key, aws_secret_access_key=secret,
                      aws_session_token=rc.get("session_token") or env.get("AWS_SESSION_TOKEN"))
    else:
        cfg["signature_version"] = UNSIGNED
    if str(rc.get("force_path_style", "true")).lower() != "false":
        cfg["s3"] = {"addressing_style": "path"}
    session = boto3.session.Session()   # no profile / env lookups beyond what we pass
    return session.client("s3", config=Config(**cfg), **kwargs), endpoint


def _download_s3(env: dict, remote: str, path: str, dest: str, log: Callable[[str], None],
                 resolve: Callable[[str], str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = path.lstrip("/").partition("/")
    if not bucket:
        raise DownloadError(f"model download failed: no bucket in {remote}:{path}")
    client, endpoint = _s3_client(env, remote, resolve)
    log(f"rclone copy {remote}:{bucket}/{prefix} {dest} (endpoint {endpoint or 'default'})")
    n = 0
    try:
        keys: list[tuple[str, str]] = []
        paginator = client.get_paginator("list_objects_v2")
        norm = prefix.rstrip("/")
        for page in paginator.paginate(Bucket=bucket, Prefix=norm):
            for obj in page.get("Contents") or []:
                k = obj["Key"]
                if k == norm:                      # the URI names one object
                    keys.append((k, os.path.basename(k)))
                elif not norm or k.startswith(norm + "/"):
                    rel = k[len(norm) + 1:] if norm else k
                    if rel and not rel.endswith("/"):
                        keys.append((k, rel))
        if not keys:
            raise DownloadError(f"model download failed: directory not found: {remote}:{bucket}/{prefix} "
                                "(no objects under that prefix)")
        for k, rel in keys:
            target = os.path.normpath(os.path.join(dest, rel))
            if not target.startswith(os.path.normpath(dest) + os.sep):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            client.download_file(bucket, k, target)
            log(f"INFO  : {rel}: Copied (new)")
            n += 1
    except ClientError as e:
        err = e.response.get("Error", {})
        raise DownloadError(f"model download failed: {remote}:{bucket}/{prefix}: {err.get('Code')}: "
                            f"{err.get('Message') or e}") from e
    except BotoCoreError as e:
        raise DownloadError(f"model download failed: {remote}:{bucket}/{prefix}: {e}") from e
    return n


def _copy_local(src: str, dest: str, log: Callable[[str], None]) -> int:
    if not os.path.exists(src):
        raise DownloadError(f"model download failed: {src}: directory not found")
    log(f"rclone copy {src} {dest}")
    if os.path.isfile(src):
        shutil.copy2(src, os.path.join(dest, os.path.basename(src)))
        return 1
    n = 0
    for root, _dirs, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), src)
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(os.path.join(root, f), os.path.join(dest, rel))
            n += 1
    if n == 0:
        raise DownloadError(f"model download failed: {src}: directory is empty")
    return n


def download(uri: str, dest: str, env: dict, map_path: Callable[[str], str | None],
             log: Callable[[str], None] = lambda _s: None, resolve: Callable[[str], str] | None = None) -> int:
    """Copy `uri` into the local directory `dest`; returns the number of files. `map_path` maps a path inside the
    init container (a volume mount) to a local directory (None: not mounted). `resolve` maps an S3 endpoint URL
    as a pod dials it (a Service's cluster DNS name) to a local address."""
    os.makedirs(dest, exist_ok=True)
    if uri.startswith("file://"):
        return _copy_local(uri[len("file://"):], dest, log)
    if uri.startswith("/"):
        local = map_path(uri)
        if local is None:
            raise DownloadError(f"model download failed: {uri} is not on a volume mounted in the init container")
        return _copy_local(local, dest, log)
    if "://" in uri:
        scheme, _, rest = uri.partition("://")
        scheme = scheme.lower()
        rc = _remote_config(env, scheme)
        if scheme == "s3" or (rc.get("type") or "").lower() == "s3":
            return _download_s3(env, scheme, rest, dest, log, resolve)
        if scheme in NOT_AVAILABLE or rc:
            raise DownloadError(f"model download failed: {scheme}:// is not available in the sandbox")
        raise DownloadError(f"model download failed: unsupported model URI scheme {scheme}:// ({uri})")
    if ":" in uri:                       # rclone remote syntax  remote:bucket/path
        remote, _, rest = uri.partition(":")
        rc = _remote_config(env, remote)
        rtype = (rc.get("type") or "").lower()
        if rtype == "s3":
            return _download_s3(env, remote, rest, dest, log, resolve)
        if not rc:
            raise DownloadError(f"model download failed: didn't find section in config file ({remote!r}): "
                                f"no RCLONE_CONFIG_{remote.upper()}_* variables in the init container's env")
        raise DownloadError(f"model download failed: rclone remote type {rtype or '?'} ({remote}:) is not "
                            "available in the sandbox")
    raise DownloadError(f"model download failed: cannot parse model URI {uri!r}")
