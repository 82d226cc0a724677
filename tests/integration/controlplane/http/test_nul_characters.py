"""NUL characters are refused at the door with a 400 naming the field, on both backends
(PostgreSQL cannot store them: they used to surface as a 500, found by the fuzz test)."""

from __future__ import annotations

import pytest

from tests.support.accounts import sign_up
from tests.support.http import ApiClient

pytestmark = pytest.mark.integration


async def test_a_nul_in_a_body_field_is_a_400_naming_it(api: ApiClient) -> None:
    answer = await api.http.post(
        "/api/v1/auth/login", json={"email": "a\u0000@example.com", "password": "x" * 12}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_argument", "email")
    assert "NUL" in error["message"]


async def test_a_nul_in_a_nested_field_names_its_path(api: ApiClient) -> None:
    account = await sign_up(api.http)
    answer = await api.http.post(
        "/api/v1/instances",
        headers=account.headers,
        json={
            "gpu_type": "H100-80GB",
            "region": "local",
            "idle_policy": {"process_allow_list": ["ok", "bad\u0000"]},
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "idle_policy.process_allow_list[1]"


async def test_a_nul_in_the_path_or_query_is_a_400(api: ApiClient) -> None:
    account = await sign_up(api.http)
    in_path = await api.http.get("/api/v1/instances/i-%00", headers=account.headers)
    assert in_path.status_code == 400, in_path.text
    assert in_path.json()["error"]["field"] == "path"
    in_query = await api.http.get("/api/v1/offers?note=a%00", headers=account.headers)
    assert (in_query.status_code, in_query.json()["error"]["field"]) == (400, "note")
