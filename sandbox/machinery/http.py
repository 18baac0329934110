"""An HTTP answer as the sandbox's servers hand it to their HTTP layer (the API server emulator, the kubelet API)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

JSON = "application/json"


@dataclass
class Response:
    code: int
    body: object = None                  # dict -> JSON, bytes/str -> as is
    content_type: str = JSON
    stream: Iterable[bytes] | None = None  # chunked body; may have close()
    headers: dict = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()
