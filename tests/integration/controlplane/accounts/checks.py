"""Assertions the accounts tests share."""

from __future__ import annotations

import httpx


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, str]:
    """The response is the error body with this status and code (and field, when given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert error["code"] == code and error["message"], error
    if field is not None:
        assert error.get("field") == field, error
    return error
