#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_secret
short_description: S3 credentials Secret in the formats model servers read (rclone or AWS variables)
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Creates or updates a Secret holding S3 credentials for model servers that download their model from S3.
  - O(format=rclone) writes C(RCLONE_CONFIG_<REMOTE>_TYPE=s3), C(_PROVIDER), C(_ENV_AUTH), C(_ACCESS_KEY_ID),
    C(_SECRET_ACCESS_KEY), C(_ENDPOINT) and C(_REGION) (the remote name upper-cased), as read by the Seldon Core
    storage initializer, Tempo and rclone itself.
  - O(format=aws) writes C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_ENDPOINT_URL), C(USE_SSL) and
    C(AWS_DEFAULT_REGION), as read by Seldon's C(envSecretRefName), boto3 and the AWS CLI.
  - Credentials come from O(access_key) and O(secret_key), else from the E(AWS_*) environment or the AWS
    profile of the host running the task (as for M(mlops.k8s.s3_artifact)); with O(env_auth=true) no key is stored
    and the pods authenticate with their own IAM role.
  - No value is ever returned or shown in a diff; the result lists key names only, and whether a value changed is
    only visible as C(changed). Values are compared by hash, and a run that changes nothing writes nothing.
options:
  name:
    description:
      - Name of the Secret.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the Secret.
    type: str
    required: true
  format:
    description:
      - Which variables the Secret holds (see the description).
    type: str
    choices: [rclone, aws]
    default: rclone
  remote:
    description:
      - With O(format=rclone), the rclone remote name, the C(<REMOTE>) in C(RCLONE_CONFIG_<REMOTE>_*) (upper-cased).
      - Letters, digits and underscores only. The model URI then starts with C(<remote>:) or C(s3://) for the
        default.
    type: str
    default: s3
  provider:
    description:
      - With O(format=rclone), the rclone S3 provider.
      - Defaults to V(AWS) without O(endpoint_url), V(Other) with one.
    type: str
    choices: [AWS, Minio, GCS, Ceph, Other]
  env_auth:
    description:
      - Store no key; the pods get credentials from their environment (IAM role for service accounts, instance
        role). Sets C(RCLONE_CONFIG_<REMOTE>_ENV_AUTH=true) for rclone.
    type: bool
    default: false
  access_key:
    description:
      - S3 access key ID.
      - When neither this nor O(secret_key) is given, the E(AWS_ACCESS_KEY_ID) environment variable, then the
        shared credentials and config files (O(profile)) of the host running the task are used.
      - Instance and container roles of that host are not used (their keys are short-lived).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - S3 secret access key. Needs O(access_key).
      - When not given, read like O(access_key).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - Session token of temporary credentials, stored when given, with a warning (the Secret stops working when
        they expire).
    type: str
    aliases: [aws_session_token]
  profile:
    description:
      - AWS profile to read the keys (and the region) from, when O(access_key) is not given.
      - When not set, E(AWS_PROFILE) or the default profile is used.
    type: str
    aliases: [aws_profile]
  region:
    description:
      - Region of the bucket. When not set, E(AWS_REGION), E(AWS_DEFAULT_REGION) or the profile's region;
        left out of the Secret when none is found.
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph, moto). When not set, E(AWS_ENDPOINT_URL_S3) then
        E(AWS_ENDPOINT_URL); left out (AWS itself) when none is set.
      - An C(http://) or C(https://) URL with a host (and a valid port, if any); checked before any request.
    type: str
    aliases: [aws_endpoint_url, s3_url]
  use_ssl:
    description:
      - With O(format=aws), the value of C(USE_SSL). Defaults to V(true) unless O(endpoint_url) is C(http://).
    type: bool
  labels:
    description:
      - Labels of the Secret.
    type: dict
  annotations:
    description:
      - Annotations of the Secret.
    type: dict
  state:
    description:
      - V(present) creates or updates the Secret, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description: The create, update or delete is sent with C(dryRun=All); nothing is stored.
    support: full
  diff_mode:
    description: Shows the Secret before and after with every value replaced by the same mask, so the diff shows
      key names, labels and annotations but never a value, nor which value changed.
    support: full
notes:
  - Keys this module stored before and no longer writes (for example after switching to O(env_auth=true)) are
    removed; keys written by someone else are kept.
  - Credentials are read on the host that runs the module (the controller for tasks on localhost).
seealso:
  - module: mlops.k8s.s3_artifact
  - module: mlops.k8s.namespace
"""

EXAMPLES = r"""
- name: rclone secret for the Seldon storage initializer, keys from the controller's AWS_* environment
  mlops.k8s.storage_secret:
    name: s3-secret
    namespace: models
    format: rclone
    endpoint_url: http://minio.minio-system.svc:9000
    provider: Minio

- name: Same with explicit keys (from a vault)
  mlops.k8s.storage_secret:
    name: s3-secret
    namespace: models
    access_key: "{{ vault_s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"
    region: eu-west-1

- name: On EKS, let the pods use their IAM role (no key stored)
  mlops.k8s.storage_secret:
    name: s3-secret
    namespace: models
    env_auth: true
    region: eu-west-1

- name: AWS-style variables for Seldon's envSecretRefName
  mlops.k8s.storage_secret:
    name: seldon-init-container-secret
    namespace: models
    format: aws
    endpoint_url: https://s3.example.com
"""

RETURN = r"""
operation:
  description: What happened (or would happen in check mode).
  returned: always
  type: str
  sample: created
key_names:
  description: Names of the keys the module writes (never their values).
  returned: always
  type: list
  elements: str
  sample: [RCLONE_CONFIG_S3_ACCESS_KEY_ID, RCLONE_CONFIG_S3_ENV_AUTH, RCLONE_CONFIG_S3_PROVIDER,
           RCLONE_CONFIG_S3_SECRET_ACCESS_KEY, RCLONE_CONFIG_S3_TYPE]
credentials_source:
  description: Where the keys came from, C(arguments), C(env_auth), or the botocore provider (C(env),
    C(shared-credentials-file), ...).
  returned: when O(state=present)
  type: str
  sample: env
secret:
  description: The Secret as stored, every value replaced by a mask.
  returned: when O(state=present)
  type: dict
"""

from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.s3 import S3_CREDENTIAL_KEYS, s3_auth_argument_spec
from ansible_collections.mlops.k8s.plugins.module_utils.storage_secrets import FORMATS, PROVIDERS, run_storage_secret


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "format": {"type": "str", "default": "rclone", "choices": list(FORMATS)},
        "remote": {"type": "str", "default": "s3"},
        "provider": {"type": "str", "choices": list(PROVIDERS)},
        "env_auth": {"type": "bool", "default": False},
        **s3_auth_argument_spec(S3_CREDENTIAL_KEYS),
        "use_ssl": {"type": "bool"},
        "labels": {"type": "dict"},
        "annotations": {"type": "dict"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_together=[("access_key", "secret_key")],
        mutually_exclusive=[("profile", "access_key")],
    )
    module.run(run_storage_secret)


if __name__ == "__main__":
    main()
