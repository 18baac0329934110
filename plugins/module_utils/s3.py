# Copyright: (c) 2026, mlops.k8s maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 helpers shared by the mlops.k8s modules.

Everything S3 lives here so modules stay thin:

* the authentication argument spec (documented by the ``mlops.k8s.s3_auth`` doc fragment)
  and the boto3 client built from it plus the ``AWS_*`` environment;
* the client's retries (retries.py's S3 policy);
* checksums (SHA-256 stored as object metadata, so multipart ETags still compare);
* ``upload_artifact`` (skip unchanged objects, parallel multipart upload through boto3's
  transfer manager with one shared client) and ``delete_prefix``;
* translation of botocore errors into one readable message (``S3Error``).
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import mimetypes
import os
import re
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

from ansible_collections.mlops.k8s.plugins.module_utils import http_urls, retries
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import MlopsModule

try:
    import boto3
    from boto3.s3.transfer import TransferConfig, create_transfer_manager
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        SSLError,
    )
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: Object metadata key (sent as ``x-amz-meta-mlops-sha256``) holding the SHA-256 of the content.
CHECKSUM_META_KEY = "mlops-sha256"

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60

DEFAULT_CONCURRENCY = 10
DEFAULT_MULTIPART_THRESHOLD = 8 * MIB
DEFAULT_MULTIPART_CHUNKSIZE = 8 * MIB
MIN_MULTIPART_CHUNKSIZE = 5 * MIB  # S3's smallest part (all but the last)
MAX_MULTIPART_CHUNKSIZE = 5 * GIB
MAX_CONCURRENCY = 64
MAX_COPY_SIZE = 5 * GIB  # CopyObject limit; bigger objects are re-uploaded to change metadata
DELETE_BATCH = 1000  # DeleteObjects limit

_HASH_BLOCK = MIB
_PLAIN_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")  # \Z: "$" matches before a trailing newline
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}\Z")
_NOT_FOUND_CODES = ("404", "NoSuchBucket", "NotFound")

# Argument spec shared by every module that talks to S3 (documented in doc_fragments/s3_auth.py).
# Absent arguments are left to boto3, which reads the AWS_* environment and ~/.aws itself.
S3_AUTH_ARGUMENT_SPEC = {
    "access_key": {"type": "str", "aliases": ["aws_access_key_id", "aws_access_key"], "no_log": True},
    "secret_key": {"type": "str", "aliases": ["aws_secret_access_key", "aws_secret_key"], "no_log": True},
    "session_token": {"type": "str", "aliases": ["aws_session_token"], "no_log": True},
    "profile": {"type": "str", "aliases": ["aws_profile"]},
    "region": {"type": "str", "aliases": ["aws_region"]},
    "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url", "s3_url"]},
    "validate_certs": {"type": "bool", "default": True},
    "aws_ca_bundle": {"type": "path"},
}
S3_AUTH_MUTUALLY_EXCLUSIVE = [["profile", "access_key"], ["profile", "secret_key"], ["profile", "session_token"]]
S3_AUTH_REQUIRED_TOGETHER = [["access_key", "secret_key"]]
_AUTH_KEYS = tuple(S3_AUTH_ARGUMENT_SPEC)


#: the options that say whose keys and which endpoint (without the TLS options of a client this task opens)
S3_CREDENTIAL_KEYS = ("access_key", "secret_key", "session_token", "profile", "region", "endpoint_url")


def s3_auth_argument_spec(keys=_AUTH_KEYS):
    """A fresh copy of the S3 authentication argument spec, or of its ``keys`` (callers may extend it)."""
    return copy.deepcopy({key: S3_AUTH_ARGUMENT_SPEC[key] for key in keys})


class S3Error(K8sError):
    """An S3 failure or invalid input, with a one-line message and structured details (bucket, key, the S3 error
    code and message)."""

    def __init__(self, msg, bucket=None, key=None, code=None, message=None):
        super().__init__(msg, details={"bucket": bucket, "key": key, "code": code, "message": message})
        self.partial = {}  # what was already done when the failure happened (uploaded keys, ...)


def s3_uri(bucket, key=""):
    return "s3://%s/%s" % (bucket, key) if key else "s3://%s" % bucket


def translate_error(exc, action, bucket=None, key=None):
    """Turn a botocore exception into an ``S3Error`` naming the bucket, key, code and message."""
    where = s3_uri(bucket, key) if bucket else "S3"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        message = err.get("Message") or _HTTP_REASONS.get(code, "no message from the server")
        hint = _CODE_HINTS.get(code, "")
        msg = "Failed to %s %s: %s: %s%s" % (action, where, code, message, hint)
        return S3Error(msg, bucket=bucket, key=key, code=code, message=message)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        message = str(exc)
        msg = (
            "Failed to %s %s: %s. Set access_key and secret_key (or profile), or the AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY environment variables" % (action, where, message)
        )
        return S3Error(msg, bucket=bucket, key=key, code=type(exc).__name__, message=message)
    if isinstance(exc, EndpointConnectionError):
        message = str(exc)
        msg = "Failed to %s %s: %s (check endpoint_url / region and that the server is up)" % (action, where, message)
        return S3Error(msg, bucket=bucket, key=key, code="EndpointConnectionError", message=message)
    if isinstance(exc, BotoCoreError):
        message = str(exc)
        hint = (
            " (set aws_ca_bundle to the CA that signed the endpoint's certificate)" if isinstance(exc, SSLError) else ""
        )
        msg = "Failed to %s %s: %s: %s%s" % (action, where, type(exc).__name__, message, hint)
        return S3Error(msg, bucket=bucket, key=key, code=type(exc).__name__, message=message)
    raise exc


_HTTP_REASONS = {"403": "Forbidden", "404": "Not Found", "400": "Bad Request", "301": "Moved Permanently"}
_CODE_HINTS = {
    "InvalidAccessKeyId": " (check access_key / AWS_ACCESS_KEY_ID)",
    "SignatureDoesNotMatch": " (check secret_key / AWS_SECRET_ACCESS_KEY)",
    "AccessDenied": " (the credentials lack permission)",
    "403": " (the credentials lack permission, or the bucket belongs to another account)",
    "301": " (the bucket is in another region: set region)",
    "PermanentRedirect": " (the bucket is in another region: set region)",
}


def _is_not_found(exc):
    return isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


# --------------------------------------------------------------------------------------------- client


def _env_endpoint_url():
    """The endpoint boto3 itself would take from the environment (service-specific first)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def connection_settings(params):
    """Resolve the connection settings from module params, then the AWS_* environment.

    Credentials and profile are passed only when given: boto3 then reads AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE and ~/.aws on its own.
    """
    endpoint_url = params.get("endpoint_url") or _env_endpoint_url()
    problem = http_urls.http_url_problem(endpoint_url) if endpoint_url else None
    if problem:
        raise S3Error(
            "endpoint_url must be an http:// or https:// URL with a host, got %r: %s"
            % (http_urls.shown(endpoint_url), problem),
            code="InvalidEndpoint",
            message="bad endpoint_url",
        )
    # None lets boto3 verify against AWS_CA_BUNDLE / the profile's ca_bundle, or its default CAs.
    verify = None
    if params.get("validate_certs") is False:
        verify = False
    elif params.get("aws_ca_bundle"):
        verify = params["aws_ca_bundle"]
    return {
        "access_key": params.get("access_key"),
        "secret_key": params.get("secret_key"),
        "session_token": params.get("session_token"),
        "profile": params.get("profile"),
        # boto3 reads AWS_DEFAULT_REGION but not AWS_REGION; accept both like the AWS CLI does.
        "region": params.get("region") or os.environ.get("AWS_REGION") or None,
        "endpoint_url": endpoint_url,
        "verify": verify,
    }


def build_client(params, max_pool_connections=None):
    """A boto3 S3 client from auth params (see ``S3_AUTH_ARGUMENT_SPEC``) and the environment.

    The client is thread-safe and meant to be shared by all worker threads of one task.
    """
    settings = connection_settings(params)
    s3_config = {}
    extra = {}
    if settings["endpoint_url"]:
        # S3-compatible stores (MinIO, Ceph, moto) are addressed reliably only path-style, and
        # some reject the newer default request checksums: only send them when required.
        s3_config["addressing_style"] = "path"
        extra = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    config = Config(
        retries=retries.s3_retry_config(),  # the S3 policy (retries.py)
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max(10, max_pool_connections or 0),
        user_agent_extra="mlops.k8s",
        s3=s3_config or None,
        **extra,
    )
    try:
        session = boto3.session.Session(
            aws_access_key_id=settings["access_key"],
            aws_secret_access_key=settings["secret_key"],
            aws_session_token=settings["session_token"],
            profile_name=settings["profile"],
            region_name=settings["region"],
        )
        return session.client("s3", endpoint_url=settings["endpoint_url"], verify=settings["verify"], config=config)
    except (BotoCoreError, ValueError) as exc:
        if isinstance(exc, ValueError):  # e.g. an endpoint_url botocore cannot parse
            raise S3Error("Invalid S3 client settings: %s" % exc, code="InvalidSettings", message=str(exc)) from None
        if isinstance(exc, ProfileNotFound):
            profile = settings["profile"] or exc.kwargs.get("profile")  # may come from AWS_PROFILE
            raise S3Error(
                "AWS profile %r not found in the AWS config/credentials files" % profile,
                code="ProfileNotFound",
                message=str(exc),
            ) from None
        raise translate_error(exc, "connect to") from None


class S3AnsibleModule(MlopsModule):
    """A module that talks to S3: the S3 auth options added, boto3 required, and S3 error reporting.

    Modules pass their own ``argument_spec``; the auth options (``S3_AUTH_ARGUMENT_SPEC``) and their
    mutually-exclusive / required-together rules are merged in.
    """

    def __init__(self, argument_spec, mutually_exclusive=None, required_together=None, **kwargs):
        spec = s3_auth_argument_spec()
        spec.update(argument_spec)
        super().__init__(
            spec,
            mutually_exclusive=list(mutually_exclusive or []) + S3_AUTH_MUTUALLY_EXCLUSIVE,
            required_together=list(required_together or []) + S3_AUTH_REQUIRED_TOGETHER,
            **kwargs,
        )
        self.require("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)

    def auth_params(self):
        return {k: self.params.get(k) for k in _AUTH_KEYS}

    def client(self, max_pool_connections=None):
        try:
            return build_client(self.auth_params(), max_pool_connections=max_pool_connections)
        except S3Error as err:
            self.fail_s3(err)

    def fail_s3(self, err, **result):
        """Fail with the error's one-line message, its details under ``error``, and no traceback."""
        result.update(err.partial)
        self.fail_json(msg=str(err), error=err.details, **result)


# ------------------------------------------------------------------------------------------- validation


def validate_bucket_name(bucket):
    """Raise ``S3Error`` unless ``bucket`` is a valid S3 bucket name (AWS naming rules)."""
    problem = None
    if not bucket:
        problem = "it is empty"
    elif bucket.startswith("s3://"):
        problem = "give the bare bucket name, without s3:// (and put the path in prefix)"
    elif not 3 <= len(bucket) <= 63:
        problem = "it must be 3 to 63 characters long"
    elif not _BUCKET_NAME.match(bucket):
        problem = (
            "only lowercase letters, digits, dots and hyphens are allowed, starting and ending with a letter or digit"
        )
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "dots may not be adjacent to each other or to hyphens"
    elif _IPV4.match(bucket):
        problem = "it must not look like an IP address"
    if problem:
        raise S3Error(
            "Invalid bucket name %r: %s" % (bucket, problem), bucket=bucket, code="InvalidBucketName", message=problem
        )


def normalize_prefix(prefix):
    """Return ``(prefix, warnings)``: surrounding slashes removed; empty, ``.`` and ``..`` segments refused."""
    warnings = []
    raw = prefix or ""
    norm = raw.strip("/")
    if raw.startswith("/"):
        warnings.append("prefix %r starts with '/'; S3 keys do not, using %r" % (raw, norm))
    if norm:
        bad = [seg for seg in norm.split("/") if seg in ("", ".", "..")]
        if bad:
            raise S3Error(
                "Invalid prefix %r: empty, '.' or '..' path segments are not allowed" % raw,
                code="InvalidPrefix",
                message="bad path segment",
            )
    return norm, warnings


def object_key(prefix, rel):
    return "%s/%s" % (prefix, rel) if prefix else rel


# -------------------------------------------------------------------------------------------- local side


@dataclass
class LocalFile:
    rel: str  # path relative to the source, with '/' separators
    path: str
    size: int
    key: str = ""
    sha256: str | None = None
    md5: str | None = None
    action: str = ""  # upload | skip | metadata


def _matches(rel, patterns):
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def collect_files(src, include=None, exclude=None):
    """List the files to upload from a file or a directory tree (sorted by relative path).

    ``include``/``exclude`` are glob patterns matched against the relative path and the file name;
    a file is taken when it matches some include pattern (or there are none) and no exclude pattern.
    """
    if not src:
        raise S3Error("src is required when state=present", code="MissingSource", message="src is empty")
    if not os.path.exists(src):
        raise S3Error("src %s does not exist" % src, code="SourceNotFound", message="no such file or directory")
    if os.path.isfile(src):
        entries = [(os.path.basename(src), src)]
    elif os.path.isdir(src):
        entries = _walk(src)
    else:
        raise S3Error("src %s is neither a file nor a directory" % src, code="InvalidSource", message="bad src")
    files = []
    for rel, path in sorted(entries):
        if (include and not _matches(rel, include)) or (exclude and _matches(rel, exclude)):
            continue
        try:
            size = os.path.getsize(path)
            if not os.access(path, os.R_OK):
                raise PermissionError("permission denied")
        except OSError as exc:
            raise S3Error("Cannot read %s: %s" % (path, exc), code="SourceUnreadable", message=str(exc)) from None
        files.append(LocalFile(rel=rel, path=path, size=size))
    return files


def _walk(src):
    entries = []
    for root, dirs, names in os.walk(src, onerror=_raise_walk_error):
        dirs.sort()
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path):  # skips sockets, fifos, dangling links
                entries.append((os.path.relpath(path, src).replace(os.sep, "/"), path))
    return entries


def _raise_walk_error(exc):
    raise S3Error("Cannot read %s: %s" % (exc.filename, exc.strerror), code="SourceUnreadable", message=str(exc))


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's content, read in 1 MiB blocks (hashlib releases the GIL on them)."""
    try:  # MD5 only detects change here; flag it so FIPS builds allow it
        digest = hashlib.new(algorithm, usedforsecurity=False)
    except TypeError:  # Python < 3.9
        digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- remote side


def bucket_exists(client, bucket):
    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        if _is_not_found(exc):
            return False
        raise translate_error(exc, "check bucket", bucket) from None
    return True


def create_bucket(client, bucket):
    region = client.meta.region_name
    kwargs = {"Bucket": bucket}
    if region and region not in ("us-east-1", "aws-global"):
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise translate_error(exc, "create bucket", bucket) from None
    except BotoCoreError as exc:
        raise translate_error(exc, "create bucket", bucket) from None


def list_objects(client, bucket, prefix):
    """``{key: {"size": int, "etag": str}}`` for every object below ``prefix/`` (the whole bucket if empty)."""
    listing = {}
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else ""):
            for obj in page.get("Contents", []):
                listing[obj["Key"]] = {"size": obj["Size"], "etag": obj.get("ETag", "").strip('"')}
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, "list", bucket, prefix) from None
    return listing


def _desired_metadata(metadata, sha256):
    meta = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    meta[CHECKSUM_META_KEY] = sha256
    return meta


def _content_type(path):
    ctype, _encoding = mimetypes.guess_type(path)
    return ctype or "application/octet-stream"


def _digest_and_decide(client, bucket, lf, remote, opts):
    """Decide ``upload``, ``metadata`` (content equal, metadata/tags differ) or ``skip`` for one file, and set
    the checksums of ``lf`` it computed on the way (``lf.sha256``, which the upload stores; ``lf.md5``).

    Size first. Then, when the listing's ETag is a plain MD5 equal to the file's and there is no
    metadata or tags to check, the object is proven unchanged without a further request. Otherwise
    a HEAD gives the SHA-256 this module stored (authoritative, and the only proof for multipart
    objects) or, for objects written by other tools, the plain-MD5 ETag to compare.
    """
    if remote is None or remote["size"] != lf.size:
        lf.sha256 = file_digest(lf.path)
        return "upload"
    if _PLAIN_MD5_ETAG.match(remote["etag"]) and not opts.metadata and opts.tags is None:
        lf.md5 = file_digest(lf.path, "md5")
        if lf.md5 == remote["etag"]:
            return "skip"
    lf.sha256 = file_digest(lf.path)
    try:
        head = client.head_object(Bucket=bucket, Key=lf.key)
    except (ClientError, BotoCoreError) as exc:
        if _is_not_found(exc):  # deleted since the listing
            return "upload"
        raise translate_error(exc, "read", bucket, lf.key) from None
    current = head.get("Metadata", {})
    stored = current.get(CHECKSUM_META_KEY)
    if not _same_content(lf, stored, head.get("ETag", remote["etag"]).strip('"')):
        return "upload"
    return "metadata" if _attributes_differ(client, bucket, lf, opts, current=current, stored_sha256=stored) else "skip"


def _same_content(lf, stored_sha256, etag):
    if stored_sha256:
        return stored_sha256 == lf.sha256
    if _PLAIN_MD5_ETAG.match(etag):
        lf.md5 = lf.md5 or file_digest(lf.path, "md5")
        return etag == lf.md5
    return False  # multipart ETag and no stored checksum: equality cannot be proven


def _attributes_differ(client, bucket, lf, opts, *, current, stored_sha256):
    """Whether the wanted metadata or tags differ from the object's (same content)."""
    wanted = _desired_metadata(opts.metadata, lf.sha256)
    if not stored_sha256:
        wanted.pop(CHECKSUM_META_KEY)
    if any(current.get(k) != v for k, v in wanted.items()):
        return True
    if opts.tags is None:
        return False
    try:
        tag_set = client.get_object_tagging(Bucket=bucket, Key=lf.key).get("TagSet", [])
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, "read tags of", bucket, lf.key) from None
    return {t["Key"]: t["Value"] for t in tag_set} != opts.tags


def _update_metadata(client, bucket, lf, opts):
    """Replace metadata/tags in place with a server-side copy (no content is sent)."""
    kwargs = {
        "Bucket": bucket,
        "Key": lf.key,
        "CopySource": {"Bucket": bucket, "Key": lf.key},
        "Metadata": _desired_metadata(opts.metadata, lf.sha256),
        "MetadataDirective": "REPLACE",
        "ContentType": _content_type(lf.path),
    }
    if opts.tags is not None:
        kwargs["TaggingDirective"] = "REPLACE"
        kwargs["Tagging"] = urlencode(opts.tags)
    try:
        client.copy_object(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, "update metadata of", bucket, lf.key) from None


def _delete_keys(client, bucket, keys):
    deleted = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        try:
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            err = translate_error(exc, "delete objects in", bucket, batch[0])
            err.partial = {"deleted": deleted}
            raise err from None
        errors = resp.get("Errors", [])
        failed = {e["Key"] for e in errors}
        deleted.extend(k for k in batch if k not in failed)
        if errors:
            first = errors[0]
            err = S3Error(
                "Failed to delete %s: %s: %s (%d objects not deleted)"
                % (s3_uri(bucket, first["Key"]), first.get("Code"), first.get("Message"), len(errors)),
                bucket=bucket,
                key=first["Key"],
                code=first.get("Code"),
                message=first.get("Message"),
            )
            err.partial = {"deleted": deleted}
            raise err
    return deleted


def _listing_diff(bucket, prefix, before, after):
    header = s3_uri(bucket, prefix)
    return {
        "before": "".join(k + "\n" for k in sorted(before)),
        "after": "".join(k + "\n" for k in sorted(after)),
        "before_header": header,
        "after_header": header,
    }


# ---------------------------------------------------------------------------------------------- actions


@dataclass
class UploadOptions:
    """How objects are written: metadata/tags to set, and transfer tuning."""

    metadata: dict | None = None
    tags: dict | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE

    def validate(self):
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise S3Error("concurrency must be between 1 and %d, got %d" % (MAX_CONCURRENCY, self.concurrency))
        if self.multipart_threshold < 1:
            raise S3Error("multipart_threshold must be positive, got %d" % self.multipart_threshold)
        if not MIN_MULTIPART_CHUNKSIZE <= self.multipart_chunksize <= MAX_MULTIPART_CHUNKSIZE:
            raise S3Error(
                "multipart_chunksize must be between 5MB and 5GB (the S3 part size limits), got %d bytes"
                % self.multipart_chunksize
            )
        if self.tags is not None:
            self.tags = {str(k): str(v) for k, v in self.tags.items()}

    def transfer_config(self):
        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )


def _base_result(bucket, prefix, warnings):
    return {
        "changed": False,
        "model_uri": s3_uri(bucket, prefix),
        "bucket": bucket,
        "prefix": prefix,
        "bucket_created": False,
        "uploaded": [],
        "skipped_keys": [],
        "metadata_updated": [],
        "deleted": [],
        "bytes_sent": 0,
        "bytes_skipped": 0,
        "objects": 0,
        "warnings": warnings,
    }


def ensure_bucket(client, bucket, prefix="", *, create_bucket_if_missing=False, check_mode=False):
    """Only make sure ``bucket`` exists (``s3_artifact`` without ``src``): create it when it is missing and
    ``create_bucket_if_missing``, else fail with NoSuchBucket. No object is read or written. In check mode only a
    HEAD is sent. Returns the module result (``changed`` and ``bucket_created`` True when it was created)."""
    validate_bucket_name(bucket)
    prefix, warnings = normalize_prefix(prefix)
    result = _base_result(bucket, prefix, warnings)
    result["diff"] = {"before": {}, "after": {}}
    if bucket_exists(client, bucket):
        return result
    if not create_bucket_if_missing:
        raise S3Error(
            "Bucket %s does not exist (set create_bucket: true to create it)" % bucket,
            bucket=bucket,
            code="NoSuchBucket",
            message="The specified bucket does not exist",
        )
    if not check_mode:
        create_bucket(client, bucket)
    result["bucket_created"] = True
    result["changed"] = True
    result["diff"] = {"before": {"bucket": None}, "after": {"bucket": bucket}}
    return result


def upload_artifact(
    client,
    bucket,
    prefix,
    src,
    *,
    include=None,
    exclude=None,
    options=None,
    create_bucket_if_missing=False,
    purge=False,
    check_mode=False,
):
    """Upload a file or directory tree to ``s3://bucket/prefix/``, skipping objects already there.

    A file ``src`` becomes ``prefix/<name>``; a directory's files become ``prefix/<relative path>``.
    An object is skipped when its size matches and its plain-MD5 ETag or the SHA-256 stored in its
    metadata matches the local content (see ``_digest_and_decide``). Checksums and HEADs run in
    a pool of ``options.concurrency`` threads; uploads go through one boto3 transfer manager
    (multipart, parallel across files and parts) on the one shared ``client``. ``purge`` deletes
    objects below the prefix that are not in the upload set (never anything else; refused without a
    prefix). In check mode only HEAD/GET/LIST requests are made. Returns the module result (``changed``,
    ``model_uri``, ``uploaded``, ...).
    Raises ``S3Error`` (with ``partial`` set when some objects were already written).
    """
    # Everything local is validated before the first request.
    opts = options or UploadOptions()
    validate_bucket_name(bucket)
    prefix, warnings = normalize_prefix(prefix)
    if purge and not prefix:
        raise S3Error(
            "purge needs a non-empty prefix; refusing to delete every object of bucket %s that is not in src" % bucket,
            bucket=bucket,
            code="EmptyPrefix",
            message="empty prefix",
        )
    opts.validate()
    files = collect_files(src, include, exclude)
    if not files:
        warnings.append("no files to upload from %s (after include/exclude)" % src)
    for lf in files:
        lf.key = object_key(prefix, lf.rel)
    result = _base_result(bucket, prefix, warnings)
    result["objects"] = len(files)

    if bucket_exists(client, bucket):
        remote = list_objects(client, bucket, prefix)
    elif create_bucket_if_missing:
        if not check_mode:
            create_bucket(client, bucket)
        result["bucket_created"] = True
        remote = {}
    else:
        raise S3Error(
            "Bucket %s does not exist (set create_bucket: true to create it)" % bucket,
            bucket=bucket,
            code="NoSuchBucket",
            message="The specified bucket does not exist",
        )

    _plan(client, bucket, files, remote, opts)
    to_upload = [lf for lf in files if lf.action == "upload"]
    to_update = [lf for lf in files if lf.action == "metadata"]
    local_keys = {lf.key for lf in files}
    # only keys below the prefix, whatever the listing returned
    to_purge = sorted(k for k in remote if k not in local_keys and k.startswith(prefix + "/")) if purge else []

    result["skipped_keys"] = [lf.key for lf in files if lf.action == "skip"]
    result["bytes_skipped"] = sum(lf.size for lf in files if lf.action == "skip")
    result["diff"] = _listing_diff(bucket, prefix, remote, (set(remote) | local_keys).difference(to_purge))
    result["changed"] = bool(result["bucket_created"] or to_upload or to_update or to_purge)
    if check_mode:
        result["uploaded"] = [lf.key for lf in to_upload]
        result["metadata_updated"] = [lf.key for lf in to_update]
        result["deleted"] = to_purge
        result["bytes_sent"] = sum(lf.size for lf in to_upload)
        return result

    _apply(client, bucket, opts, result, to_upload=to_upload, to_update=to_update, to_purge=to_purge)
    return result


def _read_error(lf, exc, bucket):
    return S3Error(
        "Cannot read %s: %s" % (lf.path, exc), bucket=bucket, key=lf.key, code="SourceUnreadable", message=str(exc)
    )


def _plan(client, bucket, files, remote, opts):
    """Checksum and compare every file in parallel (HEAD/GET only); sets ``LocalFile.action``."""
    with ThreadPoolExecutor(max_workers=opts.concurrency) as pool:
        futures = [(lf, pool.submit(_digest_and_decide, client, bucket, lf, remote.get(lf.key), opts)) for lf in files]
        errors = []
        for lf, fut in futures:
            try:
                lf.action = fut.result()
            except S3Error as err:
                errors.append(err)
            except OSError as exc:  # the file vanished or became unreadable since it was listed
                errors.append(_read_error(lf, exc, bucket))
    if errors:
        raise errors[0]
    for lf in files:  # CopyObject cannot handle > 5 GB: re-upload those to change metadata
        if lf.action == "metadata" and lf.size > MAX_COPY_SIZE:
            lf.action = "upload"


def _apply(client, bucket, opts, result, *, to_upload, to_update, to_purge):
    try:
        _transfer(client, bucket, to_upload, opts, result)
        for lf in to_update:
            _update_metadata(client, bucket, lf, opts)
            result["metadata_updated"].append(lf.key)
        if to_purge:
            try:
                result["deleted"] = _delete_keys(client, bucket, to_purge)
            except S3Error as err:
                result["deleted"] = err.partial.get("deleted", [])
                raise
    except S3Error as err:
        err.partial = _partial(result)
        raise


def _partial(result):
    keys = ("model_uri", "bucket_created", "uploaded", "metadata_updated", "deleted", "bytes_sent")
    partial = {k: result[k] for k in keys}
    partial["changed"] = bool(
        result["bucket_created"] or result["uploaded"] or result["metadata_updated"] or result["deleted"]
    )
    return partial


def _transfer(client, bucket, files, opts, result):
    """Upload ``files`` through one transfer manager, recording successes in ``result``; raise on failure."""
    if not files:
        return
    errors = []
    with create_transfer_manager(client, opts.transfer_config()) as manager:
        futures = []
        for lf in files:
            extra_args = {
                "Metadata": _desired_metadata(opts.metadata, lf.sha256),
                "ContentType": _content_type(lf.path),
            }
            if opts.tags:
                extra_args["Tagging"] = urlencode(opts.tags)
            futures.append((lf, manager.upload(lf.path, bucket, lf.key, extra_args=extra_args)))
        for lf, fut in futures:
            try:
                fut.result()
            except (ClientError, BotoCoreError) as exc:
                errors.append(translate_error(exc, "upload to", bucket, lf.key))
            except OSError as exc:  # the file vanished or became unreadable meanwhile
                errors.append(_read_error(lf, exc, bucket))
            except Exception as exc:  # s3transfer's own errors (retries exhausted, cancelled, ...)
                errors.append(
                    S3Error(
                        "Failed to upload to %s: %s: %s" % (s3_uri(bucket, lf.key), type(exc).__name__, exc),
                        bucket=bucket,
                        key=lf.key,
                        code=type(exc).__name__,
                        message=str(exc),
                    )
                )
            else:
                result["uploaded"].append(lf.key)
                result["bytes_sent"] += lf.size
    if errors:
        err = errors[0]
        if len(errors) > 1:
            err.msg = "%s (and %d more uploads failed)" % (err.msg, len(errors) - 1)
        raise err


def delete_prefix(client, bucket, prefix, check_mode=False):
    """Delete every object below ``s3://bucket/prefix/``; ``changed`` only when something was deleted.

    An empty prefix is refused (it would empty the bucket). A missing bucket means nothing to delete.
    """
    validate_bucket_name(bucket)
    prefix, warnings = normalize_prefix(prefix)
    if not prefix:
        raise S3Error(
            "state=absent needs a non-empty prefix; refusing to delete every object in bucket %s" % bucket,
            bucket=bucket,
            code="EmptyPrefix",
            message="empty prefix",
        )
    result = _base_result(bucket, prefix, warnings)
    remote = list_objects(client, bucket, prefix) if bucket_exists(client, bucket) else {}
    keys = sorted(remote)
    result["diff"] = _listing_diff(bucket, prefix, keys, [])
    if not keys:
        return result
    result["changed"] = True
    if check_mode:
        result["deleted"] = keys
        return result
    try:
        result["deleted"] = _delete_keys(client, bucket, keys)
    except S3Error as err:
        err.partial = {"changed": bool(err.partial.get("deleted")), "deleted": err.partial.get("deleted", [])}
        raise
    return result
