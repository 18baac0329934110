"""One API request as the emulator's handlers see it: method, path, query, headers, body, the authenticated user
and the verb, with the body decoders (JSON, YAML, protobuf) and content negotiation."""

from __future__ import annotations

from dataclasses import dataclass

from . import protobuf, tables
from .errors import ApiError, bad_request
from .objects import PATCH_TYPES, parse_body
from .rbac import UserInfo

JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    user: UserInfo | None = None
    verb: str = ""
    raw_query: str = ""  # the query string as sent (the proxy subresources pass it on)
    client_cert: tuple[str, tuple[str, ...]] | None = None  # (CN, O...) of a verified TLS client certificate

    @property
    def wants_table(self) -> bool:
        return tables.wants_table(self.headers.get("accept", ""))

    def media(self) -> str:
        return self.headers.get("content-type", JSON).split(";", 1)[0].strip().lower()

    def patch_type(self) -> str:
        ctype = self.media()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "415: Unsupported Media Type", "UnsupportedMediaType", {})
        return ctype

    def object(self) -> object:
        """The decoded body of a create/update (JSON, YAML or the protobuf kubectl sends for typed creates)."""
        ctype = self.media()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(self.body)
            except (ValueError, KeyError, UnicodeDecodeError) as e:
                raise ApiError(415, f"the body of the request was in an unknown format - {e}",
                               "UnsupportedMediaType") from e
        if ctype not in (JSON, "application/yaml", "*/*", ""):
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                           "application/json, application/yaml", "UnsupportedMediaType")
        if not self.body:
            raise bad_request("the request body is empty")
        return parse_body(self.body, yaml_ok=ctype == "application/yaml")
