#!/usr/bin/python
# Copyright: (c) 2026, mlops.k8s maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: s3_artifact
short_description: Upload a model artifact (file or directory) to S3 and return its model URI
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Uploads a file or a directory tree to C(s3://bucket/prefix/), for example a trained model that a
    Seldon prepackaged server or MLServer will download from the returned RV(model_uri).
  - Objects whose content is already there are skipped, so a second run sends nothing and reports
    no change. An object is compared by size first. Then a plain-MD5 ETag from the listing that
    matches the file proves it unchanged without further requests; otherwise the module reads the
    SHA-256 it stored as the C(x-amz-meta-mlops-sha256) object metadata when uploading (the only
    proof for multipart uploads, whose ETag is not an MD5), or the ETag for objects written by
    other tools. A multipart ETag alone is never trusted.
  - Large files are uploaded in parallel parts with boto3's transfer manager; several files are
    uploaded at the same time, through one shared client.
  - With O(state=absent), removes every object below the prefix.
  - Works with AWS S3 and S3-compatible stores (MinIO, Ceph RGW, moto) through O(endpoint_url).
extends_documentation_fragment:
  - mlops.k8s.s3_auth
options:
  bucket:
    description:
      - Name of the bucket (no C(s3://)).
    type: str
    required: true
  prefix:
    description:
      - Key prefix ("directory") the artifact is uploaded below. A file O(src) becomes
        C(prefix/<file name>), the files of a directory O(src) become C(prefix/<relative path>).
      - Leading and trailing slashes are removed (with a warning for a leading one); empty, C(.)
        and C(..) path segments are refused.
      - An empty prefix uploads to the root of the bucket; it is refused with O(state=absent) and with O(purge=true).
    type: str
    default: ''
  src:
    description:
      - Local file or directory to upload, on the host that runs the module.
      - Omitted with O(state=present), nothing is uploaded and the module only makes sure the bucket exists
        (with O(create_bucket=true) it creates a missing one, otherwise a missing bucket is an error).
        O(include), O(exclude), O(purge), O(metadata) and O(tags) are then refused.
    type: path
  state:
    description:
      - V(present) uploads O(src); V(absent) deletes all objects below O(prefix).
    type: str
    choices: [present, absent]
    default: present
  create_bucket:
    description:
      - Create the bucket (in O(region)) when it does not exist. Otherwise a missing bucket is an error.
    type: bool
    default: false
  include:
    description:
      - Glob patterns (C(fnmatch) style) of files to upload, matched against the path relative to
        O(src) and against the file name. When set, only matching files are uploaded.
    type: list
    elements: str
  exclude:
    description:
      - Glob patterns of files not to upload, matched like O(include); applied after it.
    type: list
    elements: str
  purge:
    description:
      - Also delete objects below O(prefix) that are not part of this upload (including files left
        out by O(include)/O(exclude)), so the prefix holds exactly the artifact.
      - Needs a non-empty O(prefix) (the task fails before any request otherwise); objects outside O(prefix) are
        never deleted.
    type: bool
    default: false
  metadata:
    description:
      - User metadata to set on every uploaded object (sent as C(x-amz-meta-*) headers; keys are
        lower-cased by S3). Unchanged objects whose metadata differs get it replaced in place by a
        server-side copy, without sending their content again.
    type: dict
  tags:
    description:
      - Object tags to set on every uploaded object. When set, tags of unchanged objects are compared
        and replaced in place when they differ. When not set, existing tags are left alone.
    type: dict
  concurrency:
    description:
      - Number of parallel requests, across files and across the parts of large files; also the
        number of threads computing checksums and comparing objects.
    type: int
    default: 10
    aliases: [max_concurrency]
  multipart_threshold:
    description:
      - Files of this size or larger are uploaded in parts. Accepts a size such as V(8MB) or bytes.
    type: bytes
    default: 8MB
  multipart_chunksize:
    description:
      - Size of each part of a multipart upload, from V(5MB) to V(5GB). boto3 raises it when a
        file would need more than 10000 parts.
    type: bytes
    default: 8MB
notes:
  - Check mode computes what would be uploaded or deleted with HEAD, GET and LIST requests only.
  - Without O(src), a run sends one HEAD request (and a CreateBucket request when the bucket is missing
    and O(create_bucket=true)); a second run reports no change.
  - Diff mode shows the keys below the prefix before and after the run (not their content).
  - The result lists every key, so for artifacts of very many files expect a large result.
attributes:
  check_mode:
    description: Reports what would be uploaded, updated or deleted, using read-only requests.
    support: full
  diff_mode:
    description: Returns the keys below the prefix before and after the change.
    support: full
"""

EXAMPLES = r"""
- name: Upload a trained model directory for a Seldon SKLEARN_SERVER
  mlops.k8s.s3_artifact:
    src: "{{ playbook_dir }}/build/iris"
    bucket: models
    prefix: iris/v1
    create_bucket: true
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
  register: artifact

- name: Use the returned URI as the model location
  ansible.builtin.debug:
    msg: "modelUri: {{ artifact.model_uri }}"

- name: Upload only the model files, with metadata and tags, removing stale objects
  mlops.k8s.s3_artifact:
    src: ./outputs
    bucket: ml-artifacts
    prefix: fraud/2026-11-27
    include: ["*.joblib", "*.json"]
    exclude: ["tmp/*"]
    purge: true
    metadata:
      git-commit: "{{ git_sha }}"
    tags:
      team: risk
    region: eu-west-1

- name: Upload a large checkpoint with bigger parts and more parallel requests (credentials from AWS_* env)
  mlops.k8s.s3_artifact:
    src: /data/checkpoints/model.pt
    bucket: ml-artifacts
    prefix: llm/ckpt-42
    multipart_chunksize: 64MB
    concurrency: 16

- name: Only make sure an (empty) bucket exists, for example right after installing an object store
  mlops.k8s.s3_artifact:
    bucket: models
    create_bucket: true
    endpoint_url: http://127.0.0.1:30900

- name: Remove a model version
  mlops.k8s.s3_artifact:
    bucket: models
    prefix: iris/v1
    state: absent
"""

RETURN = r"""
model_uri:
  description:
    - C(s3://bucket/prefix), the directory URI a Seldon prepackaged server or MLServer expects as
      C(modelUri). C(s3://bucket) when the prefix is empty.
  returned: always
  type: str
  sample: s3://models/iris/v1
bucket:
  description: The bucket.
  returned: always
  type: str
  sample: models
prefix:
  description: The normalised prefix (no leading or trailing slash).
  returned: always
  type: str
  sample: iris/v1
bucket_created:
  description: Whether the bucket was (or in check mode would be) created.
  returned: always
  type: bool
  sample: false
uploaded:
  description: Keys uploaded (in check mode, that would be uploaded).
  returned: always
  type: list
  elements: str
  sample: [iris/v1/model.joblib]
skipped_keys:
  description:
    - Keys whose content (and metadata and tags) was already up to date, so nothing was sent.
    - Not named C(skipped), which Ansible reserves to mark a skipped task.
  returned: always
  type: list
  elements: str
  sample: [iris/v1/metadata.yaml]
metadata_updated:
  description: Keys whose content was up to date but whose O(metadata) or O(tags) were replaced in place.
  returned: always
  type: list
  elements: str
  sample: []
deleted:
  description: Keys deleted by O(state=absent) or O(purge) (in check mode, that would be deleted).
  returned: always
  type: list
  elements: str
  sample: []
bytes_sent:
  description: Bytes of file content uploaded (in check mode, that would be uploaded).
  returned: always
  type: int
  sample: 1048576
bytes_skipped:
  description: Bytes of file content not sent because the objects were up to date.
  returned: always
  type: int
  sample: 0
objects:
  description:
    - Number of local files in the artifact (uploaded, skipped or metadata-updated); 0 for O(state=absent).
  returned: always
  type: int
  sample: 2
error:
  description: On failure, what failed.
  returned: failure
  type: dict
  contains:
    bucket:
      description: The bucket concerned.
      type: str
    key:
      description: The object key (or prefix) concerned, if any.
      type: str
    code:
      description: The S3 error code (such as C(AccessDenied)) or exception name.
      type: str
    message:
      description: The error message from S3 or botocore.
      type: str
  sample: {bucket: models, key: iris/v1/model.joblib, code: AccessDenied, message: Access Denied}
"""

from ansible_collections.mlops.k8s.plugins.module_utils.s3 import (
    DEFAULT_CONCURRENCY,
    S3AnsibleModule,
    S3Error,
    UploadOptions,
    delete_prefix,
    ensure_bucket,
    upload_artifact,
)

# Options that only mean something for an upload: refused when src is omitted (bucket only).
_UPLOAD_ONLY = ("include", "exclude", "metadata", "tags")


def main():
    module = S3AnsibleModule(
        argument_spec={
            "bucket": {"type": "str", "required": True},
            "prefix": {"type": "str", "default": ""},
            "src": {"type": "path"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "create_bucket": {"type": "bool", "default": False},
            "include": {"type": "list", "elements": "str"},
            "exclude": {"type": "list", "elements": "str"},
            "purge": {"type": "bool", "default": False},
            "metadata": {"type": "dict"},
            "tags": {"type": "dict"},
            "concurrency": {"type": "int", "default": DEFAULT_CONCURRENCY, "aliases": ["max_concurrency"]},
            "multipart_threshold": {"type": "bytes", "default": "8MB"},
            "multipart_chunksize": {"type": "bytes", "default": "8MB"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "present" and p["src"] is None:
        given = [name for name in _UPLOAD_ONLY if p[name]] + (["purge"] if p["purge"] else [])
        if given:
            module.fail_json(msg="%s only apply to an upload: set src, or remove them to only make sure the bucket "
                                 "exists" % ", ".join(given))
    try:
        if p["state"] == "absent":
            client = module.client()
            result = delete_prefix(client, p["bucket"], p["prefix"], check_mode=module.check_mode)
        elif p["src"] is None:
            client = module.client()
            result = ensure_bucket(client, p["bucket"], p["prefix"], create_bucket_if_missing=p["create_bucket"],
                                   check_mode=module.check_mode)
        else:
            options = UploadOptions(
                metadata=p["metadata"],
                tags=p["tags"],
                concurrency=p["concurrency"],
                multipart_threshold=p["multipart_threshold"],
                multipart_chunksize=p["multipart_chunksize"],
            )
            options.validate()  # bad input fails before a client exists
            client = module.client(max_pool_connections=p["concurrency"])
            result = upload_artifact(
                client,
                p["bucket"],
                p["prefix"],
                p["src"],
                include=p["include"],
                exclude=p["exclude"],
                options=options,
                create_bucket_if_missing=p["create_bucket"],
                purge=p["purge"],
                check_mode=module.check_mode,
            )
    except S3Error as err:
        module.fail_s3(err)
    for warning in result.pop("warnings"):
        module.warn(warning)
    diff = result.pop("diff")
    if module.diff_mode:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
