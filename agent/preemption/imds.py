"""`aws-imds`: the EC2 spot instance-action, through IMDSv2.

IMDSv2 wants a session token first (`PUT /latest/api/token`), then
`GET /latest/meta-data/spot/instance-action` answers 404 until a reclaim is scheduled, and
then `{"action": "terminate"|"stop"|"hibernate", "time": "2026-01-02T03:04:05Z"}`, about two
minutes ahead. This is the one cloud provider API the tests imitate (a small HTTP server).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime

from .base import Notice

TOKEN_PATH = "/latest/api/token"  # noqa: S105 -- a URL path, not a secret
ACTION_PATH = "/latest/meta-data/spot/instance-action"
TOKEN_TTL_S = 21600
TIMEOUT_S = 2.0
NOT_FOUND = 404


class ImdsSource:
    name = "aws-imds"

    def __init__(self, base_url: str, timeout_s: float = TIMEOUT_S) -> None:
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def poll(self) -> Notice | None:
        token = self._request(
            "PUT", TOKEN_PATH, {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)}
        )
        try:
            body = self._request("GET", ACTION_PATH, {"X-aws-ec2-metadata-token": token})
        except urllib.error.HTTPError as error:
            if error.code == NOT_FOUND:
                return None
            raise
        try:
            action = json.loads(body)
            deadline = datetime.fromisoformat(str(action["time"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError) as error:
            raise OSError(f"{self._base}{ACTION_PATH}: unexpected answer {body!r}") from error
        return Notice(deadline, self.name, f"spot instance-action: {action.get('action', '?')}")

    def _request(self, method: str, path: str, headers: dict[str, str]) -> str:
        """Raises urllib.error.HTTPError / URLError (both OSError)."""
        request = urllib.request.Request(  # noqa: S310 -- the configured http(s) URL
            self._base + path, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:  # noqa: S310
            return str(answer.read().decode("utf-8", "replace"))
