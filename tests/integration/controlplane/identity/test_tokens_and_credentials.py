"""Join tokens, host credentials and admin tokens against both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import JoinTokenRow
from torpor.controlplane.errors import InvalidArgument, NotFound, Unauthenticated
from torpor.controlplane.services import Services

pytestmark = pytest.mark.integration


async def test_a_token_is_redeemed_once_for_a_new_host(services: Services) -> None:
    token = await services.join_tokens.create(3600, "rack 4")
    assert token.startswith("tjt_")
    assert await services.join_tokens.redeemed_by(token) is None
    joined = await services.join_tokens.redeem(token, "gpu-01", "nonce-a")
    assert await services.join_tokens.redeemed_by(token) == joined.host_id
    assert await services.join_tokens.redeemed_by("tjt_unknown") is None
    assert joined.new_host and joined.host_id.startswith("h-")
    assert joined.credential.startswith(f"thc_{joined.host_id}.")
    assert await services.host_credentials.authenticate_host(joined.credential) == joined.host_id
    host = await services.hosts.get(joined.host_id)
    assert (host.hostname, host.state) == ("gpu-01", "disconnected")
    [listed] = await services.join_tokens.list()
    assert (listed.note, listed.used_by_host_id) == ("rack 4", joined.host_id)
    assert listed.status(utc_now()) == "used"


async def test_the_same_nonce_gets_a_fresh_credential_for_the_same_host(
    services: Services,
) -> None:
    token = await services.join_tokens.create(3600)
    first = await services.join_tokens.redeem(token, "gpu-01", "nonce-a")
    again = await services.join_tokens.redeem(token, "gpu-01", "nonce-a")
    assert again.host_id == first.host_id and not again.new_host
    assert again.credential != first.credential
    assert await services.host_credentials.authenticate_host(again.credential) == first.host_id
    with pytest.raises(Unauthenticated):  # the replaced credential stops working
        await services.host_credentials.authenticate_host(first.credential)


async def test_another_nonce_is_refused(services: Services) -> None:
    token = await services.join_tokens.create(3600)
    await services.join_tokens.redeem(token, "gpu-01", "nonce-a")
    with pytest.raises(Unauthenticated, match=r"already used"):
        await services.join_tokens.redeem(token, "gpu-02", "nonce-b")


async def test_racing_joins_create_one_host(services: Services) -> None:
    token = await services.join_tokens.create(3600)
    results = await asyncio.gather(
        services.join_tokens.redeem(token, "a", "nonce-a"),
        services.join_tokens.redeem(token, "b", "nonce-b"),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert (await services.hosts.list()).total == 1


async def test_unknown_expired_and_revoked_tokens_are_refused(services: Services) -> None:
    with pytest.raises(Unauthenticated, match=r"not recognised"):
        await services.join_tokens.redeem("tjt_nope", "gpu", "n")
    expired = await services.join_tokens.create(3600)
    async with services.sessions.begin() as session:
        await session.execute(
            update(JoinTokenRow).values(expires_at=utc_now() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated, match=r"expired at "):
        await services.join_tokens.redeem(expired, "gpu", "n")
    revoked = await services.join_tokens.create(3600)
    [_, info] = await services.join_tokens.list()
    await services.join_tokens.revoke(info.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await services.join_tokens.redeem(revoked, "gpu", "n")
    with pytest.raises(NotFound):
        await services.join_tokens.revoke("missing")
    with pytest.raises(InvalidArgument):
        await services.join_tokens.redeem(revoked, "gpu", "")


async def test_bad_host_credentials_are_refused(services: Services) -> None:
    for credential in (None, "", "thc_h-1", "tat_x.y", "thc_h-0000000000000000.guess"):
        with pytest.raises(Unauthenticated):
            await services.host_credentials.authenticate_host(credential)


async def test_admin_tokens(services: Services) -> None:
    token = await services.admin_tokens.create("alice")
    assert token.startswith("tat_")
    principal = await services.admin_tokens.authenticate(token)
    assert principal.name == "alice"
    for wrong in (None, "tat_", token + "x", "tjt_abc", f"tat_{principal.token_id}.guess"):
        with pytest.raises(Unauthenticated):
            await services.admin_tokens.authenticate(wrong)
    await services.admin_tokens.revoke(principal.token_id)
    with pytest.raises(Unauthenticated):
        await services.admin_tokens.authenticate(token)
