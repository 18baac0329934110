# Copyright: (c) 2026, mlops.k8s maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every mlops.k8s module that talks to S3 (spec: module_utils/s3.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - S3 access key ID.
      - When not set, boto3 reads the E(AWS_ACCESS_KEY_ID) environment variable, then the shared
        credentials and config files (C(~/.aws/credentials), C(~/.aws/config)).
      - Mutually exclusive with O(profile); needs O(secret_key).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - S3 secret access key.
      - When not set, boto3 reads the E(AWS_SECRET_ACCESS_KEY) environment variable, then the shared
        credentials and config files.
      - Mutually exclusive with O(profile); needs O(access_key).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - Session token for temporary (STS) credentials.
      - When not set, boto3 reads the E(AWS_SESSION_TOKEN) environment variable.
      - Mutually exclusive with O(profile).
    type: str
    aliases: [aws_session_token]
  profile:
    description:
      - Named profile of the AWS shared config and credentials files to authenticate with.
      - When not set, boto3 reads the E(AWS_PROFILE) environment variable.
      - Mutually exclusive with O(access_key), O(secret_key) and O(session_token).
    type: str
    aliases: [aws_profile]
  region:
    description:
      - Region of the bucket, also used as the location of a bucket created by the module.
      - When not set, the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable, then the
        profile's region is used.
      - S3-compatible stores (MinIO, Ceph) usually accept any value, V(us-east-1) when in doubt.
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - URL of an S3-compatible endpoint to use instead of AWS, for example a MinIO, Ceph RGW or
        moto server (V(http://127.0.0.1:9000)).
      - When not set, the E(AWS_ENDPOINT_URL_S3) then E(AWS_ENDPOINT_URL) environment variable is used,
        as boto3 does (unless E(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true)).
      - With an endpoint URL, buckets are addressed path-style and request checksums are only sent
        where the S3 API requires them, which S3-compatible stores handle best.
    type: str
    aliases: [aws_endpoint_url, s3_url]
  validate_certs:
    description:
      - Whether to verify the endpoint's TLS certificate.
      - Prefer O(aws_ca_bundle) over turning verification off.
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - Path of a CA bundle to verify the endpoint's TLS certificate with (for a private CA).
      - When not set, boto3 reads the E(AWS_CA_BUNDLE) environment variable.
    type: path
requirements:
  - boto3 >= 1.28.0
notes:
  - Credentials, region and endpoint are read on the host that runs the module (the controller
    for tasks delegated to localhost), from the module options, then the E(AWS_*) environment,
    then C(~/.aws).
  - Requests are retried by botocore in its C(standard) retry mode, at most 5 attempts each.
"""
