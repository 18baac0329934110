# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every mlops.k8s Kubernetes module (names as in kubernetes.core).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - Several files may be given separated by C(:) (C(;) on Windows), as in E(KUBECONFIG).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
      - When no connection option is given, E(KUBECONFIG) or C(~/.kube/config) is used if it exists,
        otherwise the in-cluster service account.
    type: raw
  context:
    description:
      - Name of a context of the kubeconfig. Defaults to its current context.
      - Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Overrides the server of the kubeconfig.
      - Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API server.
      - Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for HTTP basic authentication (only for API servers configured for it).
      - Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication.
      - Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - When not set, the kubeconfig decides (C(insecure-skip-tls-verify)), and certificates are verified otherwise.
      - Can also be set with E(K8S_AUTH_VALIDATE_CERTS) or E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (full chain) that signed the API server's certificate.
      - Can also be set with E(K8S_AUTH_CA_CERT) or E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with.
      - Can also be set with E(K8S_AUTH_CLIENT_CERT) or E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be set with E(K8S_AUTH_CLIENT_KEY) or E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy for the API connection, C(http://host:port) (C(http://user:password@host:port) sends
        the credentials as C(Proxy-Authorization)). HTTPS to the API server goes through it in a CONNECT tunnel.
        E(HTTP_PROXY) and friends are not used.
      - Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts (C(host) or C(host:port)), domains (C(.example.com)), CIDRs (C(10.0.0.0/8)) or C(*),
        reached without O(proxy).
      - Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers sent to the proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(user:password) for the proxy. Can also be set with E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - C(user:password) for a basic authentication header. Can also be set with
            E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - User agent sent to the proxy. Can also be set with E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether refreshed credentials (for example OIDC tokens) are written back to the kubeconfig file.
      - Can also be set with E(K8S_AUTH_PERSIST_CONFIG). Defaults to not writing.
    type: bool
  impersonate_user:
    description:
      - User name to act as (C(Impersonate-User)).
      - Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to act as (C(Impersonate-Group)).
      - Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS), comma-separated.
    type: list
    elements: str
  request_timeout:
    description:
      - Seconds to wait for the API server to answer a request (the read timeout), and at most 10 seconds to
        connect. Every request has these timeouts; the watches of a wait have a longer read timeout of their own.
      - A request that times out is retried twice, so a task fails after about three times this value when the API
        server accepts connections but never answers.
      - Can also be set with E(K8S_AUTH_REQUEST_TIMEOUT). Defaults to C(30).
    type: int
notes:
  - Task arguments win over K8S_AUTH_* environment variables, which win over the kubeconfig.
  - API discovery is cached across tasks in C(~/.cache/mlops.k8s/discovery/) (or E(MLOPS_K8S_CACHE_DIR));
    the cache is refreshed automatically when a kind is not found in it. Discovery is not cached when that
    directory cannot be made or can be written by other users.
  - Transient API failures (HTTP 429, 500, 502, 503, 504, dropped connections and timeouts) are retried a few times
    with backoff, honouring C(Retry-After).
  - Requests go through the Python standard library (C(http.client) and C(ssl)) directly. Kubeconfig users with a
    C(token), C(tokenFile), client certificates (files or data), C(username)/C(password) or an C(exec) credential
    plugin (such as C(aws eks get-token)) and the in-cluster service account need nothing else; a user with a
    legacy C(auth-provider) (OIDC refresh, the old gcp and azure plugins) is read with the C(kubernetes) Python
    library, which must then be installed.
requirements:
  - PyYAML >= 6.0
  - kubernetes >= 29.0.0 (only for kubeconfig users with an C(auth-provider))
"""
